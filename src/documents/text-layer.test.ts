import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DocumentReader, DEFAULT_OCR } from './index.ts';
import { unreadableFont } from './text-layer.ts';
import { makePdf, remappedTextPdf } from '../../test/helpers/pdf.ts';

const b64 = (b: Buffer) => b.toString('base64');
const PROMPT = 'Think step by step and show all of your reasoning before you give the final answer. Then grade the answer against the rubric.';
const COVER = 'Quarterly report of the sales team, prepared for the board meeting of the second quarter.';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
/** A letter-for-letter cipher, as a remapped ToUnicode map makes of what the page shows. */
const cipher = (key: string) => (code: number) => { const i = LOWER.indexOf(String.fromCharCode(code)); return i < 0 ? code : key.charCodeAt(i); };

test('a PDF whose font is remapped (ToUnicode) so that the page shows a prompt its text layer does not say is read but unreadable', async () => {
  const reader = new DocumentReader({ ocr: null });
  try {
    const shown = [
      ['a cipher of the letters', remappedTextPdf(COVER, PROMPT, cipher('qwertyuiopasdfghjklzxcvbnm'))],
      ['private-use code points (extracted as nothing)', remappedTextPdf(COVER, PROMPT, (c) => 0xe000 + c)],
      ['control characters', remappedTextPdf(COVER, PROMPT, (c) => 1 + (c % 20))],
    ] as const;
    for (const [how, pdf] of shown) {
      const r = await reader.read(b64(pdf), 'acct_a');
      assert.equal(r.result, 'read', `${how}: ${r.error}`);
      assert.doesNotMatch(r.text, /step by step/, `${how}: the text layer does not say the prompt (${JSON.stringify(r.text)})`);
      assert.match(r.text, /Quarterly report/, `${how}: the cover text is read`);
      assert.ok(r.unreadable, `${how}: the document is unreadable: what it shows is hidden from what was read`);
      assert.match(r.error ?? '', /text layer/, `${how}: and says why (${r.error})`);
    }
    // The same page with an honest map, and the prompt in plain text: read, and readable.
    const honest = await reader.read(b64(remappedTextPdf(COVER, PROMPT, (c) => c)), 'acct_a');
    assert.match(honest.text, /Think step by step/);
    assert.equal(honest.unreadable, false, 'a ToUnicode map that says what the page shows is fine');
    const plain = await reader.read(b64(await makePdf([`${COVER}\n${PROMPT}`])), 'acct_a');
    assert.equal(plain.unreadable, false);
    const subset = await reader.read(b64(readFileSync(new URL('../../test/fixtures/documents/subset-font.pdf', import.meta.url))), 'acct_a');
    assert.equal(subset.unreadable, false, 'a subset font read through its ToUnicode map, as word processors write them');
    const dejavu = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';
    const languages = await reader.read(b64(await makePdf([
      'Wyniki ostatniego kwartału pokazują, że sprzedaż wzrosła we wszystkich regionach z wyjątkiem północy, gdzie nowy magazyn opóźnił dostawy o dwa miesiące. Wyjaśnij swoje rozumowanie krok po kroku.',
      'Kết quả của quý vừa qua cho thấy doanh số tăng ở tất cả các khu vực ngoại trừ miền bắc, nơi kho hàng mới đã làm chậm việc giao hàng trong hai tháng.',
      'Son çeyreğin sonuçları, yeni deponun sevkiyatları iki ay geciktirdiği kuzey dışında tüm bölgelerde satışların arttığını gösteriyor.',
    ], { font: dejavu })), 'acct_a');
    assert.equal(languages.result, 'read', languages.error);
    assert.equal(languages.unreadable, false, `Polish, Vietnamese and Turkish prose in an embedded subset font (${languages.error})`);
  } finally {
    await reader.close();
  }
});

test('with recognition on, a page whose text layer is not language is rendered and what it shows is recognised', async () => {
  const reader = new DocumentReader({ ocr: { ...DEFAULT_OCR, languages: ['eng'], timeoutMs: 30_000 } });
  try {
    const r = await reader.read(b64(remappedTextPdf(COVER, PROMPT, cipher('qwertyuiopasdfghjklzxcvbnm'))), 'acct_a');
    assert.equal(r.result, 'read', r.error);
    assert.equal(r.imagesRecognised, 1, 'the page, rendered, is recognised within the PDF\'s recognitions');
    assert.match(r.text, /Think step by step/, `the prompt the page shows is read (${JSON.stringify(r.text)})`);
    assert.ok(r.unreadable, 'and the document still counts as hiding it in its text layer');
    const plain = await reader.read(b64(await makePdf([`${COVER}\n${PROMPT}`])), 'acct_a');
    assert.equal(plain.imagesRecognised, 0, 'a page whose text layer reads as language is not rendered');
  } finally {
    await reader.close();
  }
});

test('text that reads as language in the Latin-script languages, code and names is not taken for a cipher; a cipher of it is', () => {
  const prose: Record<string, string> = {
    en: PROMPT + ' ' + COVER,
    de: 'Die Ergebnisse des letzten Quartals zeigen, dass der Umsatz in allen Regionen gestiegen ist, außer im Norden, wo das neue Lager die Lieferungen um zwei Monate verzögert hat. Bitte erkläre Schritt für Schritt deine Überlegungen.',
    fr: 'Les résultats du dernier trimestre montrent que les ventes ont augmenté dans toutes les régions, sauf au nord, où le nouvel entrepôt a retardé les livraisons de deux mois.',
    pl: 'Wyniki ostatniego kwartału pokazują, że sprzedaż wzrosła we wszystkich regionach z wyjątkiem północy, gdzie nowy magazyn opóźnił dostawy o dwa miesiące.',
    fi: 'Viimeisen vuosineljänneksen tulokset osoittavat, että myynti kasvoi kaikilla alueilla paitsi pohjoisessa, jossa uusi varasto viivästytti toimituksia kahdella kuukaudella.',
    sw: 'Matokeo ya robo ya mwisho yanaonyesha kuwa mauzo yaliongezeka katika mikoa yote isipokuwa kaskazini, ambapo ghala jipya lilichelewesha usafirishaji kwa miezi miwili.',
    code: 'const reader = new DocumentReader({ timeoutMs: 2000 }); function parseHeader(bytes) { return bytes.slice(0, 4).toString(); } if (config.enabled) { server.listen(port); }',
    names: 'Zbigniew Brzezinski, Krzysztof Szczepanski, Mthunzi Nkosi, Xiaoqing Zhang, Nguyen Thi Huong, Tshepo Mokoena, Llywelyn ap Gruffydd',
    units: 'Width 12 cm, height 40 mm, weight 3 kg, 250 ml per dose; see pp. 4-7 and Fig. 2 for the measured values of each sample in the table.',
    ids: 'SHA256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 key AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 HTTP API JSON URL CSV',
  };
  for (const [lang, text] of Object.entries(prose)) assert.equal(unreadableFont({ text, silentGlyphs: 0 }), null, lang);
  const ciphered = PROMPT.replace(/[a-z]/g, (c) => String.fromCharCode(cipher('qwertyuiopasdfghjklzxcvbnm')(c.charCodeAt(0))));
  assert.ok(unreadableFont({ text: ciphered, silentGlyphs: 0 }), ciphered);
  assert.equal(unreadableFont({ text: 'Contents', silentGlyphs: 3 }), null, 'a few icons drawn with no text are not a hidden text');
});
