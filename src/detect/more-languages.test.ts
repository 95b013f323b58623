/**
 * Harvest prompts written in Italian, Turkish, Indonesian, Polish, Vietnamese, Hindi, Persian,
 * Hebrew and Thai: coding instructions and word problems as a dataset writes them, wrapped in a
 * request for the reasoning, a grading task or a rewrite on a sensitive topic. Each is read as its
 * English original is; people's ordinary questions in those languages are not. Numbers written in
 * Arabic-Indic or Persian digits are numbers, and a Thai question, written without spaces between
 * its words, is a new question in a conversation as an English one is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLAG, extractFeatures, flagNames } from './features.ts';
import { HIT, lexiconHits, lexiconHitsOneByOne } from './lexicon.ts';
import type { InteractionEvent } from '../events/index.ts';
import { assertWrapsRead, fixtureRows, singleShotEvent } from '../../test/helpers/detect-fixtures.ts';

const CODE = fixtureRows('multilingual/code-instructions.jsonl');
const PROBLEMS = fixtureRows('multilingual/gsm8k-translated.jsonl');
const EVERYDAY = fixtureRows('multilingual/everyday-written.jsonl');
const T0 = Date.parse('2026-05-04T00:00:00.000Z');
const LANGS = ['it', 'tr', 'id', 'pl', 'vi', 'hi', 'fa', 'he', 'th'] as const;

const flags = (text: string) => extractFeatures(singleShotEvent('acct_ml2', 1, 0, T0, text, 400)).flags;

/** What a pipeline wraps around each item, in each language: the reasoning asked for, a grading task, a rewrite on a sensitive topic. */
const WRAP: Record<(typeof LANGS)[number], { cot: string[]; rubric: string[]; rewrite: string[] }> = {
  it: {
    cot: ['Ragiona passo dopo passo.', 'Spiega ogni passaggio prima di dare la risposta finale.', 'Mostra tutti i passaggi e i calcoli intermedi.'],
    rubric: ['Valuta la risposta su una scala da 1 a 10.', 'Quale risposta è migliore, A o B?', 'Come giudice imparziale, valuta la risposta seguente.'],
    rewrite: ['Riscrivi il seguente paragrafo sulla censura del governo contro le proteste.', 'Riformula questo testo sulle elezioni.'],
  },
  tr: {
    cot: ['Adım adım düşün.', 'Nihai cevabı vermeden önce her adımı açıkla.', 'Çözüm adımlarını göster.'],
    rubric: ['Yanıtı 1-10 ölçeğinde puanla.', 'Hangi yanıt daha iyi, A mı B mi?', 'Tarafsız bir hakem olarak aşağıdaki yanıtı değerlendir.'],
    rewrite: ['Hükümetin protestolara uyguladığı sansür hakkındaki şu paragrafı yeniden yaz.', 'Seçimler hakkındaki bu metni başka kelimelerle yeniden ifade et.'],
  },
  id: {
    cot: ['Pikirkan langkah demi langkah.', 'Jelaskan setiap langkah sebelum memberikan jawaban akhir.', 'Tunjukkan cara pengerjaannya.'],
    rubric: ['Nilailah jawaban ini pada skala 1 sampai 10.', 'Jawaban mana yang lebih baik, A atau B?', 'Sebagai juri yang netral, evaluasi jawaban berikut.'],
    rewrite: ['Tulis ulang paragraf berikut tentang penyensoran pemerintah terhadap aksi protes.', 'Parafrasekan teks tentang pemilu ini.'],
  },
  pl: {
    cot: ['Myśl krok po kroku.', 'Wyjaśnij każdy krok, zanim podasz ostateczną odpowiedź.', 'Pokaż wszystkie obliczenia.'],
    rubric: ['Oceń odpowiedź w skali od 1 do 10.', 'Która odpowiedź jest lepsza, A czy B?', 'Jako bezstronny sędzia oceń poniższą odpowiedź.'],
    rewrite: ['Przepisz poniższy akapit o rządowej cenzurze protestów.', 'Sparafrazuj ten tekst o wyborach.'],
  },
  vi: {
    cot: ['Hãy suy nghĩ từng bước một.', 'Giải thích từng bước trước khi đưa ra đáp án cuối cùng.', 'Trình bày lời giải chi tiết.'],
    rubric: ['Chấm điểm câu trả lời trên thang điểm từ 1 đến 10.', 'Câu trả lời nào tốt hơn, A hay B?', 'Với tư cách là một giám khảo công tâm, hãy đánh giá câu trả lời dưới đây.'],
    rewrite: ['Viết lại đoạn văn sau về việc chính phủ kiểm duyệt các cuộc biểu tình.', 'Diễn đạt lại văn bản này về bầu cử.'],
  },
  hi: {
    cot: ['चरण दर चरण सोचिए।', 'अंतिम उत्तर देने से पहले हर चरण समझाइए।', 'हल के सभी चरण दिखाइए।'],
    rubric: ['उत्तर को 1 से 10 के पैमाने पर आँकिए।', 'कौन सा उत्तर बेहतर है, A या B?', 'एक निष्पक्ष निर्णायक के रूप में नीचे दिए गए उत्तर का मूल्यांकन कीजिए।'],
    rewrite: ['सरकार द्वारा विरोध प्रदर्शनों की सेंसरशिप के बारे में इस अनुच्छेद को फिर से लिखिए।', 'चुनाव के बारे में इस पाठ को दूसरे शब्दों में लिखिए।'],
  },
  fa: {
    cot: ['گام به گام فکر کن.', 'پیش از دادن پاسخ نهایی، هر مرحله را توضیح بده.', 'همهٔ مراحل حل را نشان بده.'],
    rubric: ['پاسخ را در مقیاس ۱ تا ۱۰ نمره بده.', 'کدام پاسخ بهتر است، الف یا ب؟', 'به عنوان یک داور بی‌طرف، پاسخ زیر را ارزیابی کن.'],
    rewrite: ['پاراگراف زیر دربارهٔ سانسور اعتراضات توسط دولت را بازنویسی کن.', 'این متن دربارهٔ انتخابات را با کلمات دیگر بیان کن.'],
  },
  he: {
    cot: ['חשוב צעד אחר צעד.', 'הסבר כל שלב לפני שאתה נותן את התשובה הסופית.', 'הצג את דרך הפתרון.'],
    rubric: ['דרג את התשובה בסולם של 1 עד 10.', 'איזו תשובה טובה יותר, א או ב?', 'כשופט ניטרלי, הערך את התשובה הבאה.'],
    rewrite: ['נסח מחדש את הפסקה הבאה על הצנזורה של הממשלה על המחאות.', 'כתוב מחדש את הטקסט הזה על הבחירות.'],
  },
  th: {
    cot: ['คิดทีละขั้นตอน', 'อธิบายแต่ละขั้นตอนก่อนให้คำตอบสุดท้าย', 'แสดงวิธีทำอย่างละเอียด'],
    rubric: ['ให้คะแนนคำตอบในระดับ 1 ถึง 10', 'คำตอบไหนดีกว่า A หรือ B?', 'ในฐานะกรรมการที่เป็นกลาง จงประเมินคำตอบต่อไปนี้'],
    rewrite: ['ถอดความย่อหน้าต่อไปนี้เกี่ยวกับการเซ็นเซอร์การประท้วงของรัฐบาล', 'เขียนใหม่ด้วยสำนวนของคุณเอง: ข้อความเกี่ยวกับการเลือกตั้งต่อไปนี้'],
  },
};

test('coding instructions translated into Italian, Turkish, Indonesian, Polish, Vietnamese, Hindi, Persian, Hebrew and Thai are coding tasks written as dataset items', () => {
  for (const lang of LANGS) {
    const items = CODE.filter((x) => x.lang === lang);
    assert.equal(items.length, 6, `${lang}: translated instructions in the fixture`);
    const missed = items.filter((x) => (flags(x.text) & (FLAG.code | FLAG.closedTask)) !== (FLAG.code | FLAG.closedTask)).map((x) => x.text);
    assert.ok(missed.length <= 1, `${lang}: at most 1 of 6 not read as a closed coding task: ${JSON.stringify(missed)}`);
  }
});

test('word problems in those languages are maths and closed-form tasks, as GSM8K is in English', () => {
  for (const lang of LANGS) {
    const items = PROBLEMS.filter((x) => x.lang === lang).map((x) => flags(x.text));
    assert.equal(items.length, 8, `${lang}: word problems in the fixture`);
    const maths = items.filter((f) => (f & FLAG.math) !== 0).length;
    const closed = items.filter((f) => (f & FLAG.closedTask) !== 0).length;
    assert.ok(maths >= 7 && closed >= 7, `${lang}: word problems read as maths ${maths} and closed-form tasks ${closed} of 8 (GSM8K in English: 91% and 85%)`);
  }
});

test('a request for the reasoning, a grading task and a rewrite on a sensitive topic are read in each of the nine languages, before or after the item', () => {
  for (const lang of LANGS) {
    const items = [...CODE.filter((x) => x.lang === lang), ...PROBLEMS.filter((x) => x.lang === lang)].map((x) => x.text);
    assert.ok(items.length >= 14, `${lang}: items to wrap`);
    assertWrapsRead(lang, items, WRAP[lang], flags);
  }
});

test('people asking ordinary things in those languages raise no elicitation flag and are no dataset item', () => {
  for (const lang of LANGS) {
    const rows = EVERYDAY.filter((x) => x.lang === lang);
    assert.equal(rows.length, 4, `${lang}: everyday prompts in the fixture`);
    for (const { text } of rows) {
      const f = flags(text);
      assert.equal(f & (FLAG.cot | FLAG.rubric | FLAG.sensitiveRewrite), 0, `${lang}: ${text} (${flagNames(f).join(', ')})`);
    }
    // At most one reads as a dataset item: Turkish carries the person in a suffix ("betiğim", my
    // script), which no person word reads, so a Turkish bug report with no pronoun is impersonal.
    const items = rows.filter((x) => (flags(x.text) & FLAG.closedTask) !== 0).map((x) => x.text);
    assert.ok(items.length <= 1, `${lang}: everyday prompts read as dataset items: ${JSON.stringify(items)}`);
  }
  // Everyday sentences that hold a listed word's letters, or a word that means something else besides.
  const everyday = [
    'Il codice fiscale va indicato nel modulo.', 'Quanto prima, per favore.', // tax code; as soon as possible
    'Bu dosyayı arkadaşım ile paylaştım.', 'Seçim yapmak için bir öğe tıklayın.', 'Büyük olasılıkla yarın yağmur yağacak.', // with; a selection; most likely
    'Sensor suhu di dapur rusak.', 'Persamaan dan perbedaan kedua budaya itu menarik.', 'Kode pos rumah saya 40115.', // a sensor; similarities; postal code
    'Polityka prywatności została zaktualizowana.', 'Wybór należy do ciebie.', 'Przepis na sernik babci.', // privacy policy; a choice; a recipe
    'Tính năng này sẽ có trong bản cập nhật sau.', 'Chế độ tối đã được bật.', // a feature; dark mode
    'चरणों में भुगतान किया जा सकता है।', // payment can be made in instalments
    'سیاست حفظ حریم خصوصی به‌روز شد.', 'چند فایل انتخاب شده است.', // privacy policy; several files
    'כמה קבצים נבחרו.', 'מערכת ההפעלה עודכנה.', // some files were selected; the operating system
    'คุณภาพของสินค้านี้ดีมาก', 'คะแนนของทีมเราดีขึ้น', // quality; our team's score
  ];
  for (const t of everyday) assert.equal(flags(t) & (FLAG.cot | FLAG.rubric | FLAG.sensitiveRewrite | FLAG.closedTask), 0, `${t} (${flagNames(flags(t)).join(', ')})`);
});

test('arithmetic written in Arabic-Indic or Persian digits is arithmetic, as in ASCII digits', () => {
  for (const text of ['احسب ناتج ٣٤ + ٥٨', 'حاصل ۱۲ × ۳۵ را به دست آورید', 'ما هو ناتج ١٢٠ ÷ ٨', '۷ * ۸']) {
    assert.ok((lexiconHits(text) & HIT.maths) !== 0, `read as arithmetic: ${text}`);
    assert.equal(lexiconHits(text), lexiconHitsOneByOne(text), text);
  }
  // A date, a phone number, numbers with no operator between them: as in ASCII digits, none.
  for (const text of ['رقم الهاتف ٠٥٥١٢٣٤٥٦٧', 'در سال ۱۴۰۲ به تهران رفتم', 'الصفحة ٣ من ١٠']) {
    assert.equal(lexiconHits(text) & HIT.maths, 0, text);
  }
});

/** A conversation's second turn: `previous` asked and answered, then `turn`. */
function secondTurn(previous: string, turn: string): InteractionEvent {
  const ev = singleShotEvent('acct_turns2', 1, 1, T0, '', 400);
  ev.request.messages = [
    { role: 'user', text: previous, chars: previous.length },
    { role: 'assistant', text: 'A'.repeat(400), chars: 400 },
    { role: 'user', text: turn, chars: turn.length },
  ];
  return ev;
}

test('a new word problem a turn in Thai, written without spaces between words, is a new question; a follow-up on the same problem is not', () => {
  for (const lang of ['th', 'hi', 'fa', 'he'] as const) {
    const items = PROBLEMS.filter((x) => x.lang === lang).map((x) => x.text);
    let fresh = 0;
    for (let i = 1; i < items.length; i++) {
      if ((extractFeatures(secondTurn(items[i - 1], `${items[i]}\n${WRAP[lang].cot[0]}`)).flags & FLAG.newItemTurn) !== 0) fresh++;
    }
    assert.ok(fresh >= 6, `${lang}: ${fresh} of ${items.length - 1} new problems read as new questions`);
  }
  const cats = 'ในบ้านหลังหนึ่งมีแมว 16 ตัว สองตัวเป็นสีขาว และ 25% เป็นสีดำ ที่เหลือเป็นสีเทา ในบ้านมีแมวสีเทากี่ตัว?';
  for (const followUp of ['ทำไมแมวสีดำมี 4 ตัว อธิบายแต่ละขั้นตอนของการคำนวณแมวสีดำ', 'แมวสีขาวกับแมวสีดำในบ้านรวมกันมีกี่ตัว แสดงวิธีทำ']) {
    assert.equal(extractFeatures(secondTurn(cats, followUp)).flags & FLAG.newItemTurn, 0, followUp);
  }
});

test('the automaton finds in these languages what the reference expressions find', () => {
  const texts = [...Object.values(WRAP).flatMap((w) => [...w.cot, ...w.rubric, ...w.rewrite]),
    ...[...CODE, ...PROBLEMS, ...EVERYDAY].filter((x) => (LANGS as readonly string[]).includes(x.lang ?? '')).map((x) => x.text)];
  const pieces = [...texts.map((t) => t.slice(0, 6)), ...texts.map((t) => t.slice(-5)), ' ', '\n', 'a', '1', '٣', '۷', '+', '×', 'ı', 'ş'];
  let seed = 17;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let k = 0; k < 5000; k++) {
    let s = '';
    for (let j = 1 + Math.floor(rnd() * 8); j > 0; j--) s += pieces[Math.floor(rnd() * pieces.length)];
    texts.push(s);
  }
  for (const t of texts.map((x) => x.toLowerCase())) assert.equal(lexiconHits(t), lexiconHitsOneByOne(t), t);
});
