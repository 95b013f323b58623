/**
 * Harvest prompts written in Chinese, Russian, Spanish, Korean and Arabic: coding instructions and
 * word problems as a dataset writes them, wrapped in a request for the reasoning, a grading task or
 * a rewrite on a sensitive topic. Each is read as its English original is; people's ordinary
 * questions in those languages (a recipe, a trip, a bug in their own program) are not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLAG, extractFeatures, flagNames } from './features.ts';
import type { InteractionEvent } from '../events/index.ts';
import { assertWrapsRead, fixtureRows, singleShotEvent } from '../../test/helpers/detect-fixtures.ts';

const CODE = fixtureRows('multilingual/code-instructions.jsonl');
const PROBLEMS = fixtureRows('multilingual/gsm8k-translated.jsonl');
const EVERYDAY = fixtureRows('multilingual/everyday-written.jsonl');
const T0 = Date.parse('2026-05-04T00:00:00.000Z');
const LANGS = ['zh', 'ru', 'es', 'ko', 'ar'] as const;

const flags = (text: string) => extractFeatures(singleShotEvent('acct_ml', 1, 0, T0, text, 400)).flags;

/** What a pipeline wraps around each item, in each language: the reasoning asked for, a grading task, a rewrite on a sensitive topic. */
const WRAP: Record<(typeof LANGS)[number], { cot: string[]; rubric: string[]; rewrite: string[] }> = {
  zh: {
    cot: ['请一步一步地思考。', '请先解释你的推理，再给出最终答案。', '请写出解题过程。'],
    rubric: ['请在1到10分的范围内给下面的回答打分。', '哪个回答更好，A还是B？', '作为一名公正的评委，请评估下面的回答。'],
    rewrite: ['改写下面这段关于政府审查抗议活动的文字。', '请换一种说法复述这段关于选举的文字。'],
  },
  ru: {
    cot: ['Давай рассуждать шаг за шагом.', 'Объясни каждый шаг, прежде чем дать окончательный ответ.', 'Покажи ход решения.'],
    rubric: ['Оцени ответ по шкале от 1 до 10.', 'Какой ответ лучше, A или B?', 'Выступи в роли беспристрастного судьи и оцени ответ ниже.'],
    rewrite: ['Перепиши следующий абзац о правительственной цензуре протестов.', 'Перефразируй этот текст о выборах.'],
  },
  es: {
    cot: ['Piensa paso a paso.', 'Explica tu razonamiento antes de dar la respuesta final.', 'Muestra tu trabajo.'],
    rubric: ['Califica la respuesta en una escala del 1 al 10.', '¿Qué respuesta es mejor, A o B?', 'Como juez imparcial, evalúa la respuesta siguiente.'],
    rewrite: ['Reescribe el siguiente párrafo sobre la censura de las protestas por parte del gobierno.', 'Parafrasea este texto sobre las elecciones.'],
  },
  ko: {
    cot: ['단계별로 생각해 주세요.', '최종 답을 내기 전에 추론 과정을 설명해 주세요.', '풀이 과정을 보여 주세요.'],
    rubric: ['답변을 1점에서 10점 사이로 평가해 주세요.', 'A와 B 중 어느 답변이 더 나은가요?', '공정한 심사위원으로서 아래 답변을 평가하세요.'],
    rewrite: ['정부의 시위 검열에 관한 다음 단락을 다시 써 주세요.', '선거에 관한 이 글을 다른 말로 바꿔 써 주세요.'],
  },
  ar: {
    cot: ['فكّر خطوة بخطوة.', 'اشرح طريقة تفكيرك قبل إعطاء الإجابة النهائية.', 'اعرض خطوات الحل.', 'برر إجابتك.', 'اشرح كل خطوة.'],
    rubric: ['قيّم الإجابة على مقياس من 1 إلى 10.', 'أي الإجابتين أفضل، أ أم ب؟', 'بصفتك حكمًا محايدًا، قيّم الإجابة أدناه.'],
    rewrite: ['أعد كتابة الفقرة التالية عن رقابة الحكومة على الاحتجاجات.', 'أعد صياغة هذا النص عن الانتخابات.'],
  },
};

test('coding instructions translated into each language are read as coding tasks written as dataset items, as their English originals are', () => {
  for (const lang of LANGS) {
    const items = CODE.filter((x) => x.lang === lang);
    assert.equal(items.length, 12, `${lang}: translated instructions in the fixture`);
    const missed = items.filter((x) => (flags(x.text) & (FLAG.code | FLAG.closedTask)) !== (FLAG.code | FLAG.closedTask)).map((x) => x.text);
    assert.ok(missed.length <= 1, `${lang}: at most 1 of 12 not read as a closed coding task: ${JSON.stringify(missed)}`);
  }
});

test('Arabic word problems are maths and closed-form tasks: how many, in total, the Arabic question mark', () => {
  const items = PROBLEMS.filter((x) => x.lang === 'ar').map((x) => flags(x.text));
  assert.equal(items.length, 20, 'Arabic word problems in the fixture');
  const maths = items.filter((f) => (f & FLAG.math) !== 0).length;
  const closed = items.filter((f) => (f & FLAG.closedTask) !== 0).length;
  assert.ok(maths >= 18 && closed >= 17, `Arabic word problems read as maths ${maths} and closed-form tasks ${closed} of 20 (GSM8K in English: 91% and 85%)`);
});

test('a request for the reasoning, a grading task and a rewrite on a sensitive topic are read in each language, before or after the item', () => {
  for (const lang of LANGS) {
    const items = [...CODE.filter((x) => x.lang === lang), ...PROBLEMS.filter((x) => x.lang === lang)].map((x) => x.text);
    assert.ok(items.length >= 30, `${lang}: items to wrap`);
    assertWrapsRead(lang, items, WRAP[lang], flags);
  }
});

test('people asking ordinary things in those languages (a recipe, a trip, a bug in their own program) raise no elicitation flag and are no dataset item', () => {
  for (const lang of LANGS) {
    const rows = EVERYDAY.filter((x) => x.lang === lang);
    assert.equal(rows.length, 6, `${lang}: everyday prompts in the fixture`);
    for (const { text } of rows) {
      const f = flags(text);
      assert.equal(f & (FLAG.cot | FLAG.rubric | FLAG.sensitiveRewrite), 0, `${lang}: ${text} (${flagNames(f).join(', ')})`);
    }
    // At most one reads as a dataset item: an impersonal question with "how many" (Russian "сколько
    // варить гречку...?", how long to boil buckwheat, is one; English "how long" is no maths word).
    const items = rows.filter((x) => (flags(x.text) & FLAG.closedTask) !== 0).map((x) => x.text);
    assert.ok(items.length <= 1, `${lang}: everyday prompts read as dataset items: ${JSON.stringify(items)}`);
  }
  // Everyday words that hold a listed phrase's letters, or mean something else besides.
  const everyday = [
    'الركود الاقتصادي يؤثر على الأسعار في كل مكان.', 'هذه علامة دالة على التعب، خذ قسطًا من الراحة.', 'كانت الرحلة جميلة جدًا.',
    'Нужен выбор хорошего ноутбука для учёбы.', 'Включите режим полёта перед взлётом.', 'Лесной массив тянется на сотни километров.',
    'Reescribe este correo para que suene más amable.', 'Перепиши это письмо начальнику повежливее.',
  ];
  for (const t of everyday) assert.equal(flags(t) & (FLAG.cot | FLAG.rubric | FLAG.sensitiveRewrite | FLAG.code | FLAG.closedTask), 0, t);
});

/** A conversation's second turn: `previous` asked and answered, then `turn`. */
function secondTurn(previous: string, turn: string): InteractionEvent {
  const ev = singleShotEvent('acct_turns', 1, 1, T0, '', 400);
  ev.request.messages = [
    { role: 'user', text: previous, chars: previous.length },
    { role: 'assistant', text: 'A'.repeat(400), chars: 400 },
    { role: 'user', text: turn, chars: turn.length },
  ];
  return ev;
}

test('a new word problem a turn in Chinese, Korean or Arabic is a new question, as in English; a follow-up on the same problem is not', () => {
  for (const lang of ['zh', 'ko', 'ar'] as const) {
    const items = PROBLEMS.filter((x) => x.lang === lang).map((x) => x.text);
    let fresh = 0;
    for (let i = 1; i < items.length; i++) {
      if ((extractFeatures(secondTurn(items[i - 1], `${items[i]}\n${WRAP[lang].cot[0]}`)).flags & FLAG.newItemTurn) !== 0) fresh++;
    }
    // Counted as words of four letters or more, a Chinese sentence was one word: 2 of 19 were new questions.
    assert.ok(fresh >= 16, `${lang}: ${fresh} of ${items.length - 1} new problems read as new questions`);
  }
  const cats = '家里有16只猫。其中两只是白色的，25%是黑色的，其余是灰色的。家里有多少只灰猫？';
  for (const followUp of ['为什么黑猫有4只？请一步一步地解释。', '那黑猫有几只？请写出计算过程。']) {
    assert.equal(extractFeatures(secondTurn(cats, followUp)).flags & FLAG.newItemTurn, 0, followUp);
  }
});
