/**
 * People and harvests in other languages. A harvester who asks for the reasoning in Chinese,
 * Spanish, Russian, Portuguese, German, French, Japanese or Korean, in the words pipelines and
 * people use there, is read as one asking in English; people writing those languages are not
 * flagged for sentences that only look like such a request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HIT, lexiconHits, lexiconHitsOneByOne } from './lexicon.ts';
import { FLAG, extractFeatures } from './features.ts';
import { enumeratedItems } from './items.ts';
import type { InteractionEvent } from '../events/index.ts';
import { fixtureRows, personPaceTimes, replayThroughDetector, seededRandom, singleShotEvent } from '../../test/helpers/detect-fixtures.ts';

const ITEMS = fixtureRows('multilingual/gsm8k-translated.jsonl');
const PEOPLE = fixtureRows('multilingual/people-written.jsonl');
const T0 = Date.parse('2026-05-04T00:00:00.000Z');

/** How reasoning is asked for in each language: the forms pipelines and people write. */
const COT: Record<string, string[]> = {
  zh: ['请一步一步地思考。', '让我们一步一步地思考。', '请逐步推理，并给出最终答案。', '请写出详细的解题过程。', '请分步解答。', '先思考，再给出答案。', '请详细说明每一步的计算。', '请给出解题思路。'],
  es: ['Piensa paso a paso.', 'Explica tu razonamiento antes de dar la respuesta final.', 'Muestra tu trabajo.', 'Explica cada paso de la solución.', 'Justifica tu respuesta.', 'Muestra el procedimiento completo.', 'Desarrolla la solución paso por paso.', 'Resuelve mostrando los cálculos intermedios.'],
  ru: ['Давай рассуждать шаг за шагом.', 'Покажи ход решения.', 'Распиши решение подробно.', 'Объясни каждый шаг.', 'Покажи все шаги решения.', 'Давай подумаем поэтапно.', 'Приведи подробное решение.', 'Реши задачу по шагам.'],
  pt: ['Pense passo a passo.', 'Explique seu raciocínio.', 'Mostre os cálculos.', 'Mostre todo o seu trabalho.', 'Explique cada etapa.', 'Resolva etapa por etapa.', 'Justifique sua resposta.', 'Mostre todas as etapas da solução.'],
  de: ['Denke Schritt für Schritt.', 'Zeige deinen Rechenweg.', 'Begründe deine Antwort.', 'Erkläre jeden Schritt.', 'Zeige alle Zwischenschritte.', 'Zeige die vollständige Herleitung.', 'Denke laut nach, bevor du antwortest.', 'Erkläre deine Überlegungen ausführlich.'],
  fr: ['Réfléchis étape par étape.', 'Montre ton raisonnement.', 'Explique chaque étape.', 'Justifie ta réponse.', 'Montre tes calculs.', 'Détaille toutes les étapes de la résolution.', 'Explique ta démarche.', 'Raisonnons pas à pas.'],
  ja: ['ステップバイステップで考えてください。', '順を追って説明してください。', '途中式も書いてください。', '解き方を説明してください。', '考え方を示してください。', '推論の過程を示してください。', 'ステップごとに解いてください。', '計算過程を詳しく書いてください。'],
  ko: ['단계별로 생각해 주세요.', '차근차근 생각해 봅시다.', '풀이 과정을 보여 주세요.', '한 단계씩 풀어 주세요.', '단계별 풀이를 보여 주세요.', '계산 과정을 모두 보여 주세요.', '추론 과정을 자세히 써 주세요.', '단계적으로 설명해 주세요.'],
};

/** How grading is asked for in each language (reward-model and judge data). */
const RUBRIC: Record<string, string[]> = {
  zh: ['请在1到10分的范围内给下面的回答打分。', '请对以下回答进行评分。', '哪个回答更好？', '作为一名公正的评委，请评估下面两个回答。', '请选出更好的回答。'],
  es: ['Califica la respuesta en una escala del 1 al 10.', '¿Cuál respuesta es mejor, A o B?', 'Actúa como juez imparcial.', 'Asigna una puntuación de 1 a 10 a la respuesta.', 'Evalúa esta respuesta del 1 al 10.'],
  ru: ['Оцени ответ по шкале от 1 до 10.', 'Какой из ответов лучше: A или B?', 'Выступи в роли беспристрастного судьи.', 'Поставь оценку от 1 до 10 этому ответу.', 'Оцените ответ по критериям оценки.'],
  pt: ['Avalie a resposta numa escala de 1 a 10.', 'Qual resposta é melhor, A ou B?', 'Atue como um juiz imparcial.', 'Dê uma nota de 1 a 10 para a resposta.', 'Avalie esta resposta de acordo com a rubrica.'],
  de: ['Bewerte die Antwort auf einer Skala von 1 bis 10.', 'Welche der Antworten ist besser?', 'Handle als unparteiischer Richter.', 'Vergib eine Punktzahl von 1 bis 10.', 'Bewerte diese Antwort anhand des Bewertungsschemas.'],
  fr: ['Note la réponse sur une échelle de 1 à 10.', 'Quelle est la meilleure réponse, A ou B ?', 'Agis comme un juge impartial.', 'Attribue une note de 1 à 10 à la réponse.', 'Évalue cette réponse selon le barème.'],
  ja: ['回答を10段階で評価してください。', 'どちらの回答がより良いですか？', '公平な審査員として2つの回答を比較してください。', 'この回答を10点満点で採点してください。', '評価基準に従って回答を採点してください。'],
  ko: ['답변을 1점에서 10점 사이로 평가해 주세요.', '어느 답변이 더 나은가요?', '공정한 심사위원으로서 두 답변을 비교하세요.', '이 답변을 10점 만점으로 채점해 주세요.', '평가 기준에 따라 이 답변을 채점하세요.'],
};

test('every reasoning and grading request of the list is read as one, in each of the eight languages', () => {
  for (const [set, bit] of [[COT, HIT.cot], [RUBRIC, HIT.rubric]] as const) {
    for (const [lang, phrases] of Object.entries(set)) {
      const missed = phrases.filter((p) => (lexiconHits(p.toLowerCase()) & bit) === 0);
      assert.deepEqual(missed, [], `${lang}: ${bit === HIT.cot ? 'reasoning' : 'grading'} requests not read`);
    }
  }
});

test('harvesters asking for the reasoning in another language are throttled: 8 unlinked accounts per language, each its own phrasing', () => {
  const events: InteractionEvent[] = [];
  let home = 0;
  for (const [lang, phrases] of Object.entries(COT)) {
    const items = ITEMS.filter((x) => x.lang === lang).map((x) => x.text);
    assert.ok(items.length >= 20, `${lang}: translated items in the fixture`);
    for (let a = 0; a < 8; a++) {
      const id = `acct_${lang}_${a}`;
      const r = seededRandom(0x9e37 + home * 131);
      home++;
      const times = personPaceTimes(r, T0, 10);
      // Half put the request before the item, half after; the item changes with every request.
      times.forEach((ts, n) => {
        const item = items[(n * 7 + a) % items.length];
        const text = a % 2 === 0 ? `${phrases[a]}\n\n${item}` : `${item}\n${phrases[a]}`;
        events.push(singleShotEvent(id, home, n, ts, text, 500 + Math.floor(r() * 900)));
      });
    }
  }
  const res = replayThroughDetector(events);
  const late: string[] = [];
  for (const [id, n] of res.seen) {
    const at = res.throttledAt.get(id);
    if (at === undefined || at > 60) late.push(`${id} (${n} requests): ${at ?? 'never'}`);
  }
  assert.deepEqual(late, [], 'each account throttled within its first 60 requests');
});

test('everyday sentences that only look like those requests are not read as one', () => {
  const everyday = [
    'Zeige die Rechnung für März.', 'Diese Datei ist ein Zwischenschritt in den Abhängigkeiten.',
    'Внедрять новую систему будем поэтапно.', '选出更好的方案需要时间。', '1から10までの数字を出力するプログラムを書いて。', '이 개념을 자세히 풀어 설명해 줘.',
    'J\'ai laissé une note sur le bureau.', 'Ela deixou uma nota para a mãe.', 'Mi hermana trabaja como jueza en Madrid.', 'En cada paso del proceso de instalación aparece un aviso.',
  ];
  for (const t of everyday) assert.equal(lexiconHits(t.toLowerCase()) & (HIT.cot | HIT.rubric), 0, t);
});

test('the automaton finds in these languages what the reference expressions find', () => {
  const texts = [...Object.values(COT).flat(), ...Object.values(RUBRIC).flat(), ...ITEMS.map((x) => x.text)];
  const pieces = [...texts.map((t) => t.slice(0, 6)), ...texts.map((t) => t.slice(-5)), ' ', '，', '\n', 'a', '1', 'é', 'шаг'];
  let seed = 11;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let k = 0; k < 5000; k++) {
    let s = '';
    for (let j = 1 + Math.floor(rnd() * 8); j > 0; j--) s += pieces[Math.floor(rnd() * pieces.length)];
    texts.push(s);
  }
  for (const t of texts.map((x) => x.toLowerCase())) assert.equal(lexiconHits(t), lexiconHitsOneByOne(t), t);
});

test('closed-form tasks in other languages: word problems as a dataset writes them are, people asking about their own work in their own words are not', () => {
  const closed = (text: string) => extractFeatures(singleShotEvent('acct_form', 1, 0, T0, text, 400)).flags;
  for (const lang of Object.keys(COT)) {
    const items = ITEMS.filter((x) => x.lang === lang).map((x) => closed(x.text));
    const maths = items.filter((f) => (f & FLAG.math) !== 0).length;
    const dataset = items.filter((f) => (f & FLAG.closedTask) !== 0).length;
    assert.ok(maths >= 17, `${lang}: word problems read as maths (${maths} of ${items.length}; GSM8K in English: 91%)`);
    assert.ok(dataset >= 16, `${lang}: word problems read as closed-form tasks (${dataset} of ${items.length}; GSM8K in English: 85%)`);
  }
  for (const lang of [...Object.keys(COT), 'en']) {
    const people = PEOPLE.filter((x) => x.lang === lang);
    const flagged = people.filter((x) => (closed(x.text) & FLAG.closedTask) !== 0).map((x) => x.text);
    assert.ok(people.length === 8 && flagged.length <= 2, `${lang}: people's own questions are not dataset items (at most 2 of 8: the real English coding and maths prompts of ShareGPT are at 21-24%): ${JSON.stringify(flagged)}`);
  }
});

test('numbered questions in one message count as that many in every language: a fullwidth question mark and the Chinese and Japanese numbering too', () => {
  for (const lang of Object.keys(COT)) {
    const items = ITEMS.filter((x) => x.lang === lang).slice(0, 10).map((x) => x.text);
    assert.equal(enumeratedItems(`${COT[lang][0]}\n${items.map((q, j) => `${j + 1}. ${q}`).join('\n')}`), 10, `${lang}: "1." numbering`);
    assert.equal(enumeratedItems(items.map((q, j) => `${j + 1}、${q}`).join('\n')), 10, `${lang}: "1、" numbering`);
    assert.equal(enumeratedItems(items.map((q, j) => `${j + 1}．${q}`).join('\n')), 10, `${lang}: fullwidth "1．" numbering`);
  }
  assert.equal(enumeratedItems('需求如下：\n1、页面加载要快\n2、支持手机端显示\n3、登录后显示用户名和头像'), 1, 'a list of requirements asks no questions');
});
