/**
 * The lexicons of the per-request signals (chain-of-thought, rubric, rewrite, sensitive topics,
 * code, maths) and one scanner that finds all of them in a single pass over the text.
 *
 * Each lexicon is declared as data: `phrases`, `words` (whole words: a regular-expression word
 * boundary, `\b`, on both sides), and two patterns that are not literals (a line ending in `{`, `}`
 * or `;`; two numbers around an arithmetic operator). A phrase starts and ends at a word boundary
 * wherever its first or last character is an ASCII letter or digit ("grade the" is not read in
 * "upgrade the", "lay out" not in "display output"); a `*` at its end lets it run on into a longer
 * word (`censor*`: "censorship"), one at its start lets it begin inside one (`*politic*`:
 * "geopolitical"). Other scripts have no boundary in the scanner: their phrases match anywhere.
 * Phrases use brace alternatives: `think{ it|} through` is "think it through" and "think through".
 *
 * The scanner is an Aho-Corasick automaton over every phrase and word of every lexicon, compiled
 * to a flat transition table: a few array reads per character, where one backtracking regular
 * expression per lexicon (kept as `lexiconRegExp`, the reference the scanner is tested against)
 * tried every alternative at every position.
 *
 * A lexicon is one edit away from blind if the edit keeps the text readable to the model: a
 * zero-width space inside "step by step", a Cyrillic "е" for the Latin "e". The scanner notices
 * such characters as it goes; a text that holds any is folded (`foldText`: invisible characters
 * removed, look-alike letters mapped to the Latin letter they imitate) and scanned again.
 */

import { charCodeAt } from '../events/index.ts';

export const LEXICON_NAMES = ['cot', 'rubric', 'rewrite', 'sensitive', 'code', 'maths'] as const;
export type LexiconName = (typeof LEXICON_NAMES)[number];
/** Bit of each lexicon in the mask `lexiconHits` returns. */
export const HIT: Record<LexiconName, number> = { cot: 1, rubric: 2, rewrite: 4, sensitive: 8, code: 16, maths: 32 };
const ALL = 63;

interface LexiconSpec {
  /** Match at word boundaries where they start or end with an ASCII letter or digit, unless marked `*` there. */
  phrases?: string[];
  /** Match only as whole words. */
  words?: string[];
  /** One of these characters followed by nothing but white space to the end of its line. */
  lineEndsWith?: string;
  /** Two whole numbers around an arithmetic operator (+ - * / x × ÷ ^), spaces allowed; ASCII, Arabic-Indic or Persian digits. */
  arithmetic?: boolean;
}

/** The lexicons, over lowercased text. docs/detector.md describes what each one is for. */
export const LEXICONS: Record<LexiconName, LexiconSpec> = {
  cot: {
    phrases: [
      'step{-| }by{-| }step', 'one step at a time', 'each step', 'every step', 'think{ it|} through', 'think{ing|} out loud',
      'thinking through', 'chain{-| }of{-| }thought*', 'show {your|all|the|me} {work|reasoning|steps|thinking}',
      '{your|full|complete|detailed|internal} {reasoning|thought process|derivation|thinking}*', 'thought process*',
      'reason {through|carefully|step}', "let{'|}s think", 'walk{ me|} through', 'talk me through', 'break{ it|} down', 'lay out',
      '<thinking>', 'reasoning trace*', 'before answering{,|} {think|reason}', 'work {it|this} out',
      'explain {the |your |}{logic|steps|reasoning}', 'how you would solve',
      // The same asked for in other words (the working written into the answer, not a trace). Not
      // "the full working code", "show the working directory", "the reasoning behind this policy".
      '{explain|show} how you {got|get|arrived|arrive|reached|derived|worked out}', 'how you {arrived|arrive} at', 'show {your|all|all your} working',
      'intermediate calculation*', '{every|each|all|all the} intermediate step*', 'reasoning behind {each|every} {step|part|calculation|line}*',
      'justify {each|every} {step|part|claim|answer}*', 'justify your {answer|reasoning|steps|solution}*',
      // The same with a word between (2026-12-07: "show all of your work", "reason out loud", "break
      // the solution into small steps, justify each one" went unread in system prompts that ask for it).
      'show all {of |}your {work|working|reasoning|steps|thinking|calculations}', '{reason|reasoning|talk|talking|think} {out loud|aloud}',
      '{break|split|divide} {it|this|the solution|the problem|the answer|your answer|your solution} into {small |smaller |clear |numbered |}steps', 'justify {each|every} one',
      // Chinese (simplified and traditional): step by step, thought / reasoning / solution process, chain of thought.
      '一步一步', '一步步', '逐步{思考|推理|分析|解答|推导|推導|说明|說明|解释|解釋}', '{思考|推理|解题|解題|推导|推導}{过程|過程}',
      '{详细|詳細|解题|解題}{步骤|步驟}', '{思维|思維}{链|鏈}', '{展示|写出|寫出|给出|給出}{你的|}{推理|思考|思路}', '{先|请先|請先}思考再回答',
      // Spanish, Portuguese, French, German, Russian, Japanese, Korean.
      'paso a paso', 'tu razonamiento', '{muestre|explique|detalle|muestra|explica} su razonamiento', 'razonamiento {completo|detallado}', 'cadena de pensamiento*', 'proceso de pensamiento*',
      'passo a passo', '{seu|teu} raciocínio', 'raciocínio {completo|detalhado}', 'cadeia de pensamento*',
      'étape par étape', 'pas à pas', '{ton|votre} raisonnement', 'raisonnement {complet|détaillé}', 'chaîne de pensée',
      'schritt für schritt', 'schrittweise*', 'rechenweg*', 'lösungsweg*', 'gedankengang*', 'denkprozess*', 'gedankenkette*',
      'шаг за шагом', 'пошагов', 'ход {рассуждений|решения|мыслей}', 'цепочк{а|у} рассуждений', '{своё|свое|ваше|твоё|твое} рассуждение',
      'ステップバイステップ', '段階的に', '一歩ずつ', '順を追って', '思考過程', '推論過程', '思考の連鎖',
      '단계별로', '차근차근', '단계적으로', '추론{ |}과정', '사고{ |}과정', '풀이{ |}과정',
      // Italian, Indonesian, Turkish, Polish, Vietnamese, Hindi, Arabic. ("từng bước" alone is left
      // out: Vietnamese uses it for "gradually".) Only the forms that ask for the reader's own
      // reasoning, or an imperative: "akıl yürütmenin" (of reasoning), "il suo ragionamento" (his
      // reasoning), "خطوات الحلاقة" (shaving steps), "أعجبتني طريقة تفكيرك" (I liked your way of
      // thinking), "proses berpikir kritis" (critical thinking) and "langkah-langkah penyelesaian
      // sengketa" (dispute-settlement steps) are everyday text. Turkish and Arabic letters have no
      // word boundary in the scanner (ASCII only): a trailing space or punctuation ends the word.
      'passo dopo passo', '{il tuo|tutto il tuo} ragionamento', 'ragionamento {completo|dettagliato}', 'catena di pensiero', 'processo di pensiero',
      'langkah demi langkah', 'penalaranmu', 'penalaran {lengkap|anda}', 'proses berpikirmu', '{tunjukkan|tuliskan} proses berpikir', 'rantai pemikiran',
      'adım adım', 'akıl yürütmeni{ |.|,|!}', 'akıl yürütmen{ |.|,|!}', 'akıl yürütmenizi', 'düşünce süreci*', 'düşünce zinciri*',
      'krok po kroku', 'tok rozumowania', '{swoje|twoje|pełne} rozumowanie', 'proces myślowy', 'łańcuch myśli',
      'từng bước một', '{giải thích|suy nghĩ|trình bày|giải} từng bước', 'quá trình suy {nghĩ|luận}', 'chuỗi suy {nghĩ|luận}',
      'चरण दर चरण', 'चरण-दर-चरण', 'कदम दर कदम', 'क़दम दर क़दम', 'तर्क प्रक्रिया', 'सोचने की प्रक्रिया', 'विचार प्रक्रिया',
      'خطوة بخطوة', 'خطوة خطوة', 'سلسلة {التفكير|الأفكار|الاستدلال}', 'عملية تفكيرك', '{اشرح|وضح|بين|اعرض|اكتب} {طريقة تفكيرك|خطوات الحل |عملية التفكير}',
      // The working asked for in other words, as the English above ("show your work", "explain each
      // step", "justify your answer", "intermediate calculations"), in the eight languages harvests
      // are most often run in. Not "zeige die Rechnung" (show the bill), "Zwischenschritt" alone (a
      // build's), "поэтапно" alone (in stages), "자세히 풀어" (explain in detail).
      '分步{解答|解题|解題|计算|計算|推理|求解|思考}', '分步骤', '分步驟', '{解题|解題}思路', '{先|请先|請先}思考{，|,|}{再|然后|然後}{回答|作答|给出答案|給出答案}',
      '每一步的{计算|計算|推理|推导|推導}', '{计算|計算}{过程|過程}',
      '{muestra|muestre} {tu|su|todo tu|todo su} trabajo', '{explica|explique|justifica|justifique|detalla|detalle} cada paso', '{justifica|justifique} {tu|su} respuesta',
      'cálculos intermedios', 'todos los pasos intermedios', '{muestra|muestre} {todos los|los} pasos', 'paso por paso', '{muestra|muestre} el procedimiento',
      '{mostre|mostra} {o seu|seu|todo o seu|teu} trabalho', '{mostre|mostra} os cálculos', '{explique|explica} cada {etapa|passo}', 'etapa por etapa',
      '{justifique|justifica} {sua|a sua|tua|a tua} resposta', 'cálculos intermediários', '{mostre|mostra} {todas as etapas|todos os passos}',
      '{erkläre|erklär|erläutere|erklären sie|erläutern sie} jeden schritt', '{alle|jeden|sämtliche|mit} zwischenschritt*', 'zwischenrechnung*', 'rechenschritt*',
      '{begründe|begründen sie} {deine|ihre} antwort', '{zeige|zeig|zeigen sie} {deine|ihre} {rechnung|herleitung|überlegungen}', '{zeige|zeig|zeigen sie} die {vollständige |}herleitung',
      '{erkläre|erläutere|beschreibe} {deine|ihre} überlegungen', '{denke|denk} laut',
      '{explique|expliquez} chaque étape', '{justifie|justifiez} {ta|votre} réponse', '{montre|montrez} {tes|vos} calculs', '{détaille|détaillez} {toutes les|les} étapes',
      'calculs intermédiaires', 'toutes les étapes intermédiaires', '{explique|expliquez|détaille|détaillez|montre|montrez} {ta|votre} démarche',
      'распиши{те|} {решение|подробно}', '{объясни|объясните} каждый шаг', '{покажи|покажите} все шаги', 'подробное решение', '{обоснуй|обоснуйте} {ответ|свой ответ|решение}',
      'задачу {поэтапно|по шагам}', '{подумаем|подумай|рассуждай|рассуждайте|реши|решай|решите} {поэтапно|по шагам}', '{рассуждай|рассуждайте} последовательно',
      'промежуточные вычисления', 'все промежуточные шаги',
      '途中式', '{計算|解答|推論|思考}の過程', '計算過程', '解き方を{説明|教え|示}', '考え方を{説明|示}', 'ステップごとに', '途中の計算', '{解答|解法|計算}の手順',
      '한{ |}단계씩', '단계별{ |}풀이', '계산{ |}과정',
      // Chinese "explain your reasoning"; Arabic: show your work / calculations, explain each step, justify
      // your answer, intermediate calculations, your reasoning, think aloud, the solution's steps
      // (ended: not "خطوات الحلاقة", shaving steps).
      '{解释|解釋|说明|說明}{你的|}{推理|思路}',
      '{اعرض|أظهر|اظهر|بين|بيّن|وضح|وضّح} {عملك|حساباتك|خطوات عملك}', '{اشرح|وضح|وضّح} كل خطوة', '{برر|برّر|علل|علّل} {إجابتك|اجابتك}',
      'الحسابات الوسيطة', 'استدلالك', '{فكر|فكّر} بصوت {عال|عالٍ}', '{اشرح|وضح|بين|اعرض|اكتب} خطوات الحل{.|،|:|؟|\n}',
      // The working asked for in Italian, Turkish, Indonesian, Polish, Vietnamese and Hindi as in the
      // languages above (each step explained, the working shown, the answer justified, intermediate
      // calculations); Persian, Hebrew and Thai: step by step, chain of thought, the working shown.
      // Not "passaggio" alone (a passage, a lift), "adımlar" alone (a setup's steps), "langkah-langkah"
      // alone, "kroki" alone, "các bước" alone, "चरणों में" (in instalments), "مراحل نصب" (installation steps).
      '{spiega|spieghi|illustra} ogni passaggio', '{mostra|mostrami|indica} {tutti i|i} passaggi', '{mostra|mostrami} il procedimento', '{giustifica|motiva} la {tua |}risposta', 'calcoli intermedi', 'passo passo',
      'her adımı açıkla', 'her adımı göster', 'çözüm adımlarını', 'işlem adımlarını', '{cevabını|yanıtını|cevabınızı|yanıtınızı} gerekçelendir', 'ara işlemleri', 'adım adım çöz',
      'jelaskan setiap langkah', 'tunjukkan {cara|langkah} {kerja|pengerjaan|penyelesaian}', 'tunjukkan {cara|langkah-langkah} {pengerjaannya|penyelesaiannya}', 'tunjukkan {semua |}perhitungan', 'perhitungan {antara|perantara}', '{berikan|sertakan} alasan {untuk |}jawaban',
      '{wyjaśnij|objaśnij|wytłumacz} każdy krok', '{pokaż|przedstaw} {wszystkie|swoje|pełne} {obliczenia|kroki|rozumowanie}', '{uzasadnij|umotywuj} {odpowiedź|swoją odpowiedź}', 'obliczenia pośrednie', 'rozpisz {rozwiązanie|obliczenia}',
      'trình bày lời giải', 'lời giải chi tiết', 'giải chi tiết', '{giải thích|trình bày} {mỗi|các} bước', 'các bước giải', 'các bước tính', 'phép tính trung gian', '{lập luận|suy luận} của bạn',
      '{हर|प्रत्येक} {चरण|कदम} {समझा|की व्याख्या|को समझा|स्पष्ट}', '{सभी|सारे} चरण {दिखा|लिख|बता}', 'हल के {सभी |}चरण', '{उत्तर|जवाब} का औचित्य', '{अपना|अपने} तर्क {समझा|बता|दिखा|स्पष्ट}', 'गणना दिखा', 'मध्यवर्ती गणना',
      '{گام|قدم|مرحله} به {گام|قدم|مرحله}', 'زنجیره {فکر|تفکر|استدلال}', '{هر|همه|همهٔ|تمام|تمامی} {مرحله|مراحل|گام|گام‌ها|گام‌های|قدم} {را توضیح|را شرح|حل|محاسبه}', 'راه حل را {با جزئیات|کامل|مرحله}',
      '{پاسخ|جواب}{ |}{خود|ت|تان} را {توجیه|مستدل}', '{فرایند|فرآیند|روند} {فکر|تفکر|استدلال}', 'استدلال{ |}{خود|ت|تان} را', 'محاسبات میانی', 'نحوه محاسبه را {نشان|توضیح}',
      'צעד אחר צעד', 'צעד אחרי צעד', 'שלב אחר שלב', 'שלב אחרי שלב', 'שרשרת {מחשבה|חשיבה|מחשבות}', '{הסבר|הסבירו|הסבירי} {כל שלב|את כל השלבים|את השלבים}', '{הצג|הציגו|הראה|הראו} את {דרך הפתרון|כל השלבים|החישוב|החישובים|שלבי הפתרון}',
      '{נמק|נמקו|נמקי} את {תשובתך|תשובתכם|התשובה}', 'תהליך {החשיבה|המחשבה}', 'חישובי ביניים', 'דרך הפתרון',
      'ทีละขั้นตอน', 'คิดทีละขั้น', 'ทีละสเต็ป', 'แสดงวิธีทำ', 'แสดงวิธีคิด', '{อธิบาย|แสดง}{แต่ละ|ทุก}ขั้นตอน', 'ขั้นตอนการคิด', '{กระบวนการ|ลำดับ}{คิด|ความคิด}', 'ห่วงโซ่ความคิด', 'แสดงการคำนวณ', 'ให้เหตุผลประกอบ',
    ],
  },
  rubric: {
    words: ['rubric'],
    phrases: [
      'grade {the|this|each|following}', 'score {the|this|each} {response|answer|output}*', 'on a scale {of|from} {1|0|one}*',
      'rate {the|this|each} {response|answer|output|completion}*', 'which {response|answer|completion} is better',
      'as a{n|} {impartial |}judge', 'reward model*', 'preference {label|pair}*', 'evaluate the {assistant|response|answer}*',
      // Chinese: rubric / scoring criteria, give a score, which answer is better, as a judge, reward model, preference data.
      '{评分|評分}{标准|標準|细则|細則}', '打分', '哪{个|個}{回答|回复|回覆|答案|回应|回應}更好', '作为{一名|一个|}{公正的|}{评委|裁判|评判者}',
      '作為{一名|一個|}{公正的|}{評委|裁判|評判者}', '{奖励|獎勵}模型', '偏好{标注|標註|数据|數據|对|對}',
      // Spanish, Portuguese, French, German, Russian, Japanese, Korean.
      'rúbrica*', '{califica|puntúa|evalúa} {la|esta|cada} respuesta*', 'qué respuesta es mejor', 'modelo de recompensa', 'como juez {imparcial|}',
      'avalie {a|esta|cada} resposta*', 'qual resposta é melhor', 'modelo de recompensa',
      'barème', '{note|notez|évalue|évaluez} {la|cette|chaque} réponse', 'quelle réponse est {la |}meilleure', 'modèle de récompense',
      'bewertungsschema*', 'bewertungsraster*', 'bewerte {die|diese|jede} antwort*', 'welche antwort ist besser', 'belohnungsmodell*',
      'критери{и|ям|ев} оценки', 'оцени{те|} {ответ|этот ответ|каждый ответ}', 'какой ответ лучше', 'модел{ь|и} вознаграждения',
      '採点基準', '評価基準', 'どちらの回答が{より|優れ|良い}', '報酬モデル',
      '채점{ |}기준', '평가{ |}기준', '어느{ |}답변이{ |}더', '보상{ |}모델',
      // A scale, a judge, which answer is better and a score given, as in English. Not "1から10まで"
      // (counting in a program), "选出更好的方案" (the better plan), "une note sur" (a note about).
      'en una escala {de|del} {1|0|uno}', '{numa|em uma|na|de uma} escala de {1|0|um}', 'sur une échelle de {1|0|un}', 'auf einer skala von {1|0|eins}',
      'по шкале от {1|0|одного}', 'su una scala da {1|0|uno}', '{10|１０}点満点で', '{10|１０}段階で{評価|採点}', '{10|5}점 만점{으로|에}', '{1|0}점에서 {10|5}점 사이',
      '{回答|回复|回覆|答案}{进行|進行|}{评分|評分}',
      '{选|選}出更好的{回答|回复|回覆|答案}', '哪{个|個}{回答|回复|回覆|答案}{更优|更優|最好}',
      'como {um |}juiz {imparcial|}', '{als|wie ein} unparteiische{r|} {richter|bewerter|schiedsrichter}', '{comme|en tant que} {un |}juge',
      'беспристрастн{ого|ый|ым} суд', 'в роли судьи', '{公平|公正}な{審査員|評価者|裁判官|ジャッジ}', '공정한 {심사위원|평가자|심판}',
      'cuál {respuesta|de las respuestas} es mejor', 'какой из ответов лучше', 'qual das respostas é melhor', 'welche der antworten ist besser', 'quelle est la meilleure réponse',
      '어느 {응답|대답}이 더',
      'asigna una puntuación', 'постав{ь|ьте} оценку', 'vergib{ eine| die|} punktzahl', 'attribue{z|} une note de {1|0}', 'dê uma nota de {1|0}',
      '{回答|答え}を{評価|採点}', '{답변|응답}을 {평가|채점}', '採点して',
      // Arabic: on a scale of 1, which of the two answers is better, an impartial judge, reward model,
      // evaluation criteria, rate the answer, give the answer a score.
      'على مقياس من {1|0|١|٠|واحد}', '{أي|أيّ|اي} {الإجابتين|الاجابتين|الردين|الإجابات|الاجابات|الردود} {أفضل|افضل}', '{حكمًا|حكما|كحكم} {محايدًا|محايدا|محايد|نزيهًا|نزيها|نزيه}',
      'نموذج {المكافأة|مكافأة|المكافاة}', 'معايير التقييم', '{قيّم|قيم} {الإجابة|الاجابة|الرد|هذه الإجابة|هذه الاجابة|الإجابات|الاجابات|الردود}',
      '{امنح|أعط|اعط} {الإجابة|الاجابة|الرد} {درجة|علامة}',
      // Italian, Turkish, Indonesian, Polish, Vietnamese, Hindi, Persian, Hebrew, Thai: a scale, which
      // answer is better, an impartial judge, a reward model, rate or score the answer. Not "1 ile 10
      // arasında bir sayı" (enter a number between 1 and 10), "puan verin" alone (rate this app).
      'quale risposta è migliore', 'quale delle risposte è migliore', '{come|in qualità di} giudice imparziale', 'modello di ricompensa', 'griglia di valutazione', '{valuta|assegna un punteggio a} {la|questa|ciascuna|ogni} risposta', 'assegna un punteggio',
      '{1|0}-{10|5} ölçeğinde', '{1|0} ile {10|5} {arasında|arası} {bir |}puan', 'hangi {yanıt|cevap} daha iyi', 'hangi {yanıtın|cevabın} daha iyi', 'tarafsız bir {hakem|yargıç|jüri|değerlendirici}', 'ödül modeli', '{yanıtı|cevabı|yanıtları|cevapları} {puanla|değerlendir}',
      '{pada|dalam} skala {1|0}', 'jawaban mana yang lebih baik', '{sebagai|menjadi} {juri|hakim|penilai} yang {netral|adil|tidak memihak|objektif}', 'model {reward|hadiah|penghargaan}', 'rubrik penilaian', '{nilailah|nilai|evaluasi|beri skor} jawaban {ini|berikut|tersebut}',
      'w skali {od |}{1|0}', 'która {odpowiedź|z odpowiedzi} jest lepsza', 'jako {bezstronny|obiektywny} {sędzia|oceniający|ewaluator}', 'model nagrody', '{oceń|oceńcie} {odpowiedź|tę odpowiedź|każdą odpowiedź|odpowiedzi}', 'przyznaj {ocenę|punkty} {od |}{1|0}',
      'thang điểm {1|0|từ 1|từ 0}', 'câu trả lời nào tốt hơn', '{giám khảo|người chấm|trọng tài} {công tâm|công bằng|khách quan|trung lập}', 'mô hình phần thưởng', 'tiêu chí chấm điểm', 'chấm điểm {câu trả lời|phản hồi}', 'đánh giá câu trả lời',
      '{1|0} से {10|5} {के|तक के} पैमाने', 'कौन{ |-}{सा|से} {उत्तर|जवाब} बेहतर', 'निष्पक्ष {न्यायाधीश|निर्णायक|जज|मूल्यांकनकर्ता}', '{पुरस्कार|रिवॉर्ड} मॉडल', 'मूल्यांकन {मानदंड|रूब्रिक}', '{उत्तर|जवाब} का मूल्यांकन', '{उत्तर|जवाब} को {अंक|स्कोर}',
      'در مقیاس {1|0|۱|۰}', '{از|بین} {1|۱} تا {10|۱۰} {نمره|امتیاز}', 'کدام {پاسخ|جواب} بهتر', 'داور {بی‌طرف|بیطرف|بی طرف|منصف}', 'مدل پاداش', 'معیارهای ارزیابی', 'به {پاسخ|جواب}{ |}{نمره|امتیاز}', '{پاسخ|جواب} را ارزیابی',
      'בסולם {של |מ-|מ|}{1|0}', 'איזו {תשובה|מהתשובות} {טובה|עדיפה}', '{כשופט|כשופטת|בתור שופט|כמעריך} {ניטרלי|ניטרלית|הוגן|הוגנת|חסר פניות|אובייקטיבי}', 'מודל תגמול', 'קריטריוני הערכה', '{דרג|דרגו|הערך|הערכו} את {התשובה|התשובות}', 'תן ציון {לתשובה|לתשובות}',
      'ในระดับ {1|0}', 'คะแนน {1|0} ถึง {10|5}', 'คำตอบ{ไหน|ใด}ดีกว่า', 'ในฐานะกรรมการ', '{โมเดล|แบบจำลอง}รางวัล', 'เกณฑ์การให้คะแนน', 'ให้คะแนนคำตอบ', 'ประเมินคำตอบ',
    ],
  },
  rewrite: {
    words: ['rewrite', 're-write', 'rephrase', 'paraphrase', 'reword'],
    // Chinese: rewrite, put it another way, polish, restate.
    // Spanish, Portuguese, French, German, Russian, Japanese, Korean.
    phrases: ['改写', '改寫', '重写', '重寫', '{换|換}{个|個|一种|一種|一个|一個}{说法|說法}', '润色', '潤色', '转述', '轉述',
      'reescrib*', 'parafrasea*', 'reformula*', 'reescrev*', 'parafraseie', 'réécri*', 'umschreiben', 'umformulieren', 'paraphrasiere*',
      'перепиш', 'переписать', 'перефразир', 'переформулир', '書き換え', '言い換え', 'リライト', '재작성', '바꿔{ |}써', '다시{ |}써',
      // Arabic: rewrite, rephrase.
      '{أعد|اعد} {صياغة|كتابة}', '{إعادة|اعادة} صياغة',
      // Italian, Turkish, Indonesian, Polish, Vietnamese, Hindi, Persian, Hebrew, Thai.
      'riscrivi', 'riscrivere', 'riformula*', 'parafrasa*', 'yeniden yaz', 'yeniden ifade et', '{başka|farklı} {kelimelerle|sözcüklerle}',
      'tulis ulang', 'tuliskan ulang', 'tuliskan kembali', 'parafrasekan', 'przepisz', 'przeredaguj', 'sparafrazuj', 'przeformułuj', 'sformułuj {to |}inaczej', 'innymi słowami',
      'viết lại', 'diễn đạt lại', 'diễn giải lại', '{फिर|दोबारा|पुनः} से लिख', '{दोबारा|पुनः} लिख', 'पुनर्लेखन', 'दूसरे शब्दों में',
      'بازنویسی', 'بازنویس', 'با {کلمات|واژه‌های|واژه های} {دیگر|خودت}', 'به بیان دیگر', '{נסח|נסחו|לנסח|כתוב|כתבו|לכתוב} מחדש', 'שכתב', 'שכתבו', 'פרפרזה',
      'เขียนใหม่', 'เรียบเรียงใหม่', 'ถอดความ'],
  },
  sensitive: {
    phrases: [
      '*politic*', 'government*', '*censor*', 'protest*', 'dissident*', 'tiananmen', 'taiwan*', 'tibet*', 'xinjiang', 'uyghur*', 'falun',
      'human rights', 'election*', 'propaganda', 'communist party', 'regime*', 'democrac*', 'sovereignty',
      // Chinese (simplified and traditional).
      '政治', '政府', '审查', '審查', '抗议', '抗議', '异见', '異見', '天安门', '天安門', '六四事件', '台湾', '台灣', '臺灣', '西藏', '新疆',
      '维吾尔', '維吾爾', '法轮', '法輪', '人权', '人權', '选举', '選舉', '共产党', '共產黨', '政权', '政權', '民主', '主权', '主權',
      // Spanish, Portuguese, French, German, Russian, Japanese, Korean, Arabic: the same topics (words
      // shared with English, "propaganda", "regime", "dissident", "protest", are read by the English
      // ones). Not "выбор" (choice), "режим" (a mode), "سياسة" (a policy: a privacy policy), "معارض" (exhibitions).
      'polític*', 'gobierno*', 'censura*', 'protesta*', 'elecciones', 'electoral*', 'régimen', 'democracia*', 'soberanía', 'derechos humanos', 'partido comunista', 'taiwán', 'tíbet', 'uigur*',
      'governo*', 'protesto*', 'eleições', 'eleitora*', 'soberania', 'direitos humanos',
      'politique*', 'gouvernement*', 'censure*', 'manifestants', 'élection*', 'propagande', 'démocratie*', 'souveraineté', "droits de l'homme", 'droits humains', 'parti communiste',
      'politik*', 'regierung*', 'zensur*', 'wahlen', 'wahlkampf*', 'demokratie*', 'souveränität', 'menschenrechte*', 'kommunistische partei',
      'политик', 'политическ', 'правительств', 'цензур', 'протест', 'диссидент', 'выборы', 'выборах', 'выборов', 'пропаганд', 'демократи', 'суверенитет',
      'права человека', 'прав человека', 'коммунистическ', 'кремл', 'оппозици', 'митинг', 'тайван', 'тибет', 'синьцзян', 'уйгур', 'тяньаньмэн',
      '検閲', '選挙', '人権', '共産党', '反体制',
      '정치', '정부', '검열', '시위', '반체제', '선거', '선전', '정권', '민주주의', '주권', '인권', '공산당', '천안문', '대만', '티베트', '신장', '위구르',
      'سياسي', 'السياسية', 'حكومة', 'الحكومة', 'الحكومي', 'الرقابة', 'رقابة', 'احتجاج', 'المعارضة', 'انتخاب', 'الانتخاب', 'دعاية', 'النظام الحاكم', 'نظام الحكم',
      'ديمقراطي', 'الديمقراطية', 'سيادة', '{حقوق|لحقوق} {الإنسان|الانسان}', 'الحزب الشيوعي', 'تايوان', 'التبت', 'شينجيانغ', '{الإيغور|الأويغور|الايغور}', 'تيانانمن',
      // Italian, Turkish, Indonesian, Polish, Vietnamese, Hindi, Persian, Hebrew, Thai (words shared with
      // the languages above are read there: "politik", "governo", "censura", "protesta"). Not "seçim"
      // alone (a selection), "sensor" (a device), "polityka" (a policy too: "polityka prywatności"),
      // "wybór" (a choice), "chế độ" (a mode), "سیاست" (a policy), "دولت" alone (the state), "प्रचार" (advertising).
      'elezioni', 'elettoral*', 'democrazia', 'sovranità', 'diritti umani', 'partito comunista',
      'siyasi', 'siyaset*', 'hükümet*', 'sansür*', 'protesto*', 'muhalif*', 'seçimler', 'seçimlerde', 'seçim kampanya', 'demokrasi*', 'egemenlik', 'insan hakları', 'komünist parti', 'tayvan', 'sincan', 'uygur',
      'pemerintah*', 'penyensoran', 'disensor', 'protes ', 'unjuk rasa', 'pemilu', 'pemilihan umum', 'kedaulatan', 'hak asasi manusia', 'partai komunis', 'rezim',
      'polityczn*', 'rządow*', 'cenzur*', 'dysydent*', 'wybory', 'wyborach', 'wyborcz*', 'demokracj*', 'suwerenność', 'prawa człowieka', 'praw człowieka', 'partia komunistyczna', 'partii komunistycznej', 'tajwan*', 'tybet*', 'ujgur*', 'reżim*',
      'chính trị', 'chính phủ', 'kiểm duyệt', 'biểu tình', 'bất đồng chính kiến', 'bầu cử', 'tuyên truyền', 'dân chủ', 'chủ quyền', 'nhân quyền', 'đảng cộng sản', 'thiên an môn', 'đài loan', 'tây tạng', 'tân cương', 'duy ngô nhĩ',
      'राजनीति', 'सरकार', 'सेंसरशिप', 'विरोध प्रदर्शन', 'प्रदर्शनकारी', 'असंतुष्ट', 'चुनाव', 'दुष्प्रचार', 'लोकतंत्र', 'संप्रभुता', 'मानवाधिकार', 'मानव अधिकार', 'कम्युनिस्ट पार्टी', 'ताइवान', 'तिब्बत', 'शिनजियांग', 'उइगर',
      'سیاسی', 'حکومت', 'سانسور', 'اعتراضات', 'معترضان', 'مخالفان', 'انتخابات', 'دموکراسی', '{مردم‌سالاری|مردمسالاری}', 'حاکمیت', 'حقوق بشر', 'حزب کمونیست', 'تایوان', 'تبت', '{سین‌کیانگ|سینکیانگ}', 'اویغور',
      'פוליטי', 'פוליטיק', 'ממשלה', 'ממשלת', 'צנזור', 'מחאה', 'מחאות', 'מפגינים', 'בחירות', 'תעמולה', 'דמוקרטי', 'ריבונות', 'זכויות {אדם|האדם}', 'המפלגה הקומוניסטית', 'טייוואן', 'טיוואן', 'טיבט', 'אויגור',
      'การเมือง', 'รัฐบาล', '{การ|ถูก}เซ็นเซอร์', 'ประท้วง', 'ผู้เห็นต่าง', 'เลือกตั้ง', 'โฆษณาชวนเชื่อ', 'ประชาธิปไตย', 'อธิปไตย', 'สิทธิมนุษยชน', 'พรรคคอมมิวนิสต์', 'ไต้หวัน', 'ทิเบต', 'ซินเจียง', 'อุยกูร์', 'เทียนอันเหมิน',
    ],
  },
  code: {
    phrases: [
      '```', 'def ', '=>', '()',
      // Chinese: code, function, programming, algorithm, regular expression, array, string, debugging.
      '代码', '代碼', '函数', '函數', '编程', '編程', '算法', '正则表达式', '正則表達式', '数组', '數組', '字符串', '调试', '調試',
      // Spanish, Portuguese, French, German, Russian, Japanese, Korean: code, programming, algorithm, function.
      // ("función", "fonction", "Funktion" are left out: "en función de", "en fonction de" and "funktioniert" are everyday words.)
      'código', 'algoritmo*', 'algorithme*', 'programación', 'programação', 'programmier*', 'quellcode*',
      'программ', 'алгоритм', 'コード', '関数', 'プログラム', 'アルゴリズム', '코드', '함수', '프로그램', '알고리즘',
      // Function, code, regular expression, array, string, query, in Russian, Spanish, Portuguese,
      // French, German, Korean, Japanese, Chinese, Arabic ("una función que", not "en función de"; "دالة" with
      // what a function does or is written in, not "دالة على", indicative of; " كود", not "ركود", recession;
      // not "массив" alone: a forest, a housing estate, a data set).
      'функци', 'код{ |.|,|:|\n|а |е |ом|у }', 'регулярн{ое|ого|ым|ые} выражени',
      'expresión regular', '{una|la|esta} función {que|en python|en javascript|recursiva|llamada}', 'un programa en',
      'expressão regular', '{uma|a|esta} função {que|em python|em javascript|recursiva|chamada}',
      'expression régulière', 'une fonction {qui|en python|en javascript|récursive|nommée}',
      'regulären ausdruck', 'regulärer ausdruck', 'eine funktion{,| die| in python| in javascript| namens}',
      // "c++" as a phrase: as a whole word it needed a word boundary after its "+", a letter ("C++ code" was not read).
      'c++', 'c语言', 'c語言',
      '쿼리', '정규{ |}표현식', '정규식', '배열', '문자열', '正規表現', '配列', '文字列', 'クエリ', '查询语句', '查詢語句',
      '{دالة|الدالة|لدالة} {بلغة|تحسب|تعيد|ترجع|تقوم|تتحقق|تولد|باسم|برمجية|تحول|تجمع|تقبل|تستقبل|تطبع}', 'بلغة {c|c++|python|java|javascript|typescript|rust|go|sql|php|ruby|kotlin|swift}', 'شيفرة', 'الشيفرة', 'الكود', ' كود', 'برمجة', 'البرمجة', 'برمجي', 'خوارزمي',
      'تعبير{ًا|ا|} نمطي', 'مصفوفة', 'سلسلة نصية',
      // Italian, Turkish, Indonesian, Polish, Vietnamese, Hindi, Persian, Hebrew, Thai: function, regular
      // expression, query, programming, algorithm, source code. Not "codice fiscale", "kode pos", "posta
      // kodu" (tax and postal codes), "pełni funkcję" (serves a function), "hàm ý" (an implication),
      // "تابع قوانین" (subject to the law), "dizi" (a TV series too).
      'espressione regolare', 'una funzione {che|in python|in javascript|ricorsiva|chiamata|di nome}', 'programmazione', 'codice sorgente',
      'fonksiyon', 'düzenli ifade', 'sorgusu', 'programlama', 'kaynak kod', 'algoritma*',
      '{sebuah|suatu} fungsi', 'fungsi {rekursif|bernama|python|javascript}', 'ekspresi reguler', 'pemrograman', 'kueri',
      '{funkcję|funkcja|funkcji}{ |, }{w |która|rekurencyjn|o nazwie}', 'wyrażenie regularne', 'programowani*', 'algorytm*', 'kod źródłowy',
      'hàm {python|javascript|typescript|đệ quy|trả về|kiểm tra|chuyển|tính|nhận|sắp xếp|tìm}', 'viết hàm', 'mã nguồn', 'đoạn mã', 'lập trình', 'thuật toán', 'biểu thức chính quy', 'truy vấn',
      'कोड', '{फ़ंक्शन|फंक्शन|फ़ंक्शंस}', 'प्रोग्रामिंग', 'एल्गोरिदम', 'एल्गोरिथ्म', '{रेगुलर|रेग्युलर} एक्सप्रेशन', 'क्वेरी',
      '{یک|این} تابع', 'تابع {بازگشتی|پایتون|را بنویس}', '{برنامه‌نویسی|برنامه نویسی|برنامهنویسی}', 'الگوریتم', 'عبارت {باقاعده|منظم}', 'کوئری', 'کد {پایتون|جاوا|برنامه|زیر}',
      '{ |\n}{|ה|ב|ל|ו|ש}קוד{ |.|,|:|\n}', 'קוד מקור', 'פונקציה', 'תכנות', 'אלגוריתם', 'ביטוי רגולרי', 'שאילתה', 'שאילתת',
      'โค้ด', '{ฟังก์ชัน|ฟังก์ชั่น}', 'โปรแกรม', '{อัลกอริทึม|อัลกอริธึม}', 'นิพจน์{ปรกติ|ปกติ}',
    ],
    words: [
      'function', 'python', 'javascript', 'typescript', 'java', 'sql', 'golang', 'rust', 'code', 'program', 'algorithm', 'regex',
      'compile', 'script', 'class', 'method', 'array', 'string', 'api', 'bug', 'mysql', 'postgresql', 'sqlite', 'debug', 'implement', 'html', 'css', 'query',
    ],
    lineEndsWith: '{};',
  },
  maths: {
    words: ['how {many|much}', 'calculate', 'compute', 'solve', 'equation', 'percent', 'total', 'average', 'sum of', 'probability', 'integer', 'prove'],
    // Chinese: how many / much, solve, equation, probability, percent, average, in total, prove, integer, sum of;
    // then Spanish, Portuguese, French, German, Russian, Japanese, Korean: how many, equation, probability.
    phrases: ['多少', '几个', '幾個', '求解', '方程', '概率', '機率', '百分之', '平均', '总共', '總共', '一共', '证明', '證明', '整数', '整數', '之和',
      'cuántos', 'cuántas', 'cuánto', 'ecuación', 'probabilidad*', 'quantos', 'quantas', 'equação', 'probabilidade*',
      'combien', 'équation*', 'probabilité*', 'wie viele', 'wie viel', '*gleichung*', 'wahrscheinlichkeit*',
      'сколько', 'вычисли', 'уравнени', 'вероятност', '何個', 'いくつ', '方程式', '確率', '몇{ |}개', '방정식', '확률',
      // How many with the counter Japanese and Korean put after the number ("何人", "何メートル", "몇 명", "몇 달러"), and how much.
      '何{人|匹|本|枚|冊|日|時間|分|回|倍|袋|体|羽|頭|歳|点|円|ドル|ページ|メートル|キロ|リットル|カロリー|パーセント}', 'いくら',
      '몇{ |}{명|마리|번|시간|분|달러|원|쪽|미터|킬로|리터|봉지|권|살|배|칼로리|퍼센트|점}', '며칠', '얼마{입니까|인가요|예요|일까|야|지}',
      // Calculate and prime number in Spanish, Portuguese, French, German, Russian, Chinese; Korean power, calculate.
      'calcula', 'calcule', 'calcular', 'calculez', 'berechne', 'berechnen', 'número primo', 'números primos', 'nombre premier', 'nombres premiers', 'primzahl*',
      'прост{ое|ых|ые|ого} числ', '质数', '質數', '素数', '素數', '거듭제곱', '계산하{시오|라|세요|여}',
      // Arabic: how many / how much (after a space or line: "حكم", "لكم" hold its letters), calculate, equation,
      // percent, in total, integer, prove that.
      ' كم ', '\nكم ', ' فكم ', ' وكم ', ' بكم ', 'احسب', 'معادلة', 'المعادلة', '{بالمئة|بالمائة|في المئة|في المائة}',
      '{إجمالًا|إجمالا|اجمالا|إجمالي|اجمالي}', '{عدد|أعداد|اعداد} {صحيح|صحيحة}', '{أثبت|اثبت} {أن|ان}',
      // Italian, Turkish, Indonesian, Polish, Vietnamese, Hindi, Persian, Hebrew, Thai: how many / how much,
      // equation, probability, prime number, calculate. The Polish "ile" opens a sentence (the Turkish "ile"
      // is "with"); not "olasılıkla" (probably), "persamaan" alone (a similarity), "quanto prima" (as soon as possible).
      'quanti', 'quante', 'quanto {costa|costano|costò|è costat|ha |hanno |paga|spende|guadagna}', 'equazion*', 'probabilità', 'numer{o|i} prim{o|i}', 'calcola', 'calcolare', 'in totale',
      'kaç ', 'kaçtır', 'denklem*', 'olasılığı', 'asal sayı', 'hesapla*',
      'berapa', 'persamaan {kuadrat|linear|linier}', 'sistem persamaan', 'probabilitas', 'bilangan prima', 'hitunglah', 'hitung {berapa|jumlah|total|nilai|luas|keliling}',
      '{.|?|!|\n}ile ', '{. |? |! }ile ', ', ile ', 'o ile {więcej|mniej}', 'w ile ', 'ile {wynosi|kosztuj|razy|łącznie|razem}', 'równani*', 'prawdopodobieństw*', 'liczb{a|y|ę} pierwsz*', 'oblicz', 'policz',
      'bao nhiêu', 'phương trình', 'xác suất', 'số nguyên tố', 'tính tổng', 'tính giá trị',
      'कितन{े|ी|ा}', 'समीकरण', 'प्रायिकता', 'अभाज्य संख्या', 'ज्ञात {कीजिए|कीजिये|करें}', 'गणना {कीजिए|कीजिये|करें}',
      '{ |\n}چند ', 'چقدر', 'معادله', 'عدد اول', 'اعداد اول', 'محاسبه {کن|کنید}', 'در مجموع',
      '{ |\n|,|.}{|ב|ו}כמה ', 'משוואה', 'הסתברות', 'מספר ראשוני', 'מספרים ראשוניים', '{חשב|חשבו} את', 'בסך הכול', 'בסך הכל',
      'กี่{ตัว|คน|ชิ้น|ลูก|เมตร|วัน|ก้อน|แคลอรี|ขา|บาท|ดอลลาร์|ครั้ง|เท่า|ปี|ชั่วโมง|นาที|หน้า|กิโล|ลิตร|เล่ม|ใบ|อัน|ข้อ|เปอร์เซ็นต์|คัน|กล่อง|แพ็ค|ถุง|ขวด|แก้ว|ห้อง|เดือน|สัปดาห์|วิธี}', 'เท่าไร', 'เท่าไหร่', 'สมการ', 'ความน่าจะเป็น', 'จำนวนเฉพาะ', 'คำนวณ', 'ร้อยละ'],
    arithmetic: true,
  },
};

/** Every string a phrase with brace alternatives stands for (`a{b|c}` -> `ab`, `ac`). */
export function expandPhrase(phrase: string): string[] {
  const open = phrase.indexOf('{');
  if (open < 0) return [phrase];
  const close = phrase.indexOf('}', open);
  if (close < 0) throw new Error(`lexicon: unclosed brace in ${JSON.stringify(phrase)}`);
  const rest = expandPhrase(phrase.slice(close + 1));
  return phrase.slice(open + 1, close).split('|').flatMap((alt) => rest.map((r) => phrase.slice(0, open) + alt + r));
}

/**
 * Someone speaking or addressed: first and second person, courtesy, greetings. Measured on the
 * real prompt sets, 59% of ShareGPT first prompts and 74% of hh-rlhf prompts hold one; 2% of
 * GSM8K questions and 12% of code-alpaca instructions do.
 */
export const PERSONAL_EN = ['i', "i'm", "i've", "i'd", "i'll", 'im', 'me', 'my', 'mine', 'myself', 'we', "we're", 'us', 'our', 'ours', 'you', "you're", 'your', 'yours', 'yourself', 'please', 'pls', 'thanks', 'thank', 'hi', 'hello', 'hey', 'help'];
/**
 * The same in Spanish, Portuguese, French, German, Italian, Russian, Chinese, Japanese and Korean:
 * pronouns, courtesy, greetings, and the verb forms that carry the person where the pronoun is
 * dropped ("¿cómo puedo...?", "kannst du", "помоги", "どうすれば", "알려 줘"). Without them, 3 to 7
 * of 8 people's own coding and maths questions in each of those languages read as dataset items,
 * 0 of 8 in English. Left out for what they are besides: "du" (French "of the"), "mes" (Spanish
 * "month"), "ma" (Italian "but"), "ton", "yo", "dime", "io" (English words, code), "mia" (a
 * name in GSM8K), "je" before anything but a French verb or pronoun (German "each"); and the polite request forms "请", "ください", "주세요", which dataset
 * instructions in those languages use as plain imperatives.
 */
export const PERSONAL_WORDS = [
  'mi', 'mis', 'conmigo', 'tú', 'te', 'ti', 'tu', 'tus', 'usted', 'ustedes', 'nosotros', 'nosotras', 'nuestro', 'nuestra', 'nuestros', 'nuestras', 'gracias', 'hola',
  'ayuda', 'ayúdame', 'ayudas', 'puedo', 'puedes', 'podrías', 'necesito', 'quiero', 'quisiera', 'tengo', 'estoy', 'explícame',
  'eu', 'meu', 'minha', 'meus', 'minhas', 'comigo', 'você', 'vocês', 'teu', 'tua', 'nós', 'nosso', 'nossa', 'nossos', 'nossas', 'obrigado', 'obrigada', 'olá',
  'ajuda', 'ajude', 'posso', 'preciso', 'queria', 'quero', 'gostaria', 'tenho', 'estou', 'faço', 'sei',
  'moi', 'mon', 'toi', 'vous', 'votre', 'vos', 'nous', 'notre', 'nos', 'merci', 'bonjour', 'salut',
  'ich', 'mich', 'mir', 'mein', 'meine', 'meinen', 'meinem', 'meiner', 'dich', 'dir', 'dein', 'deine', 'deinen', 'deinem', 'deiner', 'wir', 'uns',
  'unser', 'unsere', 'unseren', 'unserem', 'unserer', 'bitte', 'danke', 'hallo', 'hilf', 'kannst', 'könntest',
  'mio', 'miei', 'noi', 'nostro', 'nostra', 'nostri', 'nostre', 'voi', 'grazie', 'ciao', 'aiutami', 'puoi', 'potresti', 'vorrei',
  'я', 'меня', 'мне', 'мной', 'мой', 'моя', 'мое', 'моё', 'мои', 'моего', 'моей', 'мы', 'нас', 'нам', 'наш', 'наша', 'наше', 'наши', 'ты', 'тебя', 'тебе', 'тобой',
  'твой', 'твоя', 'твое', 'твоё', 'твои', 'вы', 'вас', 'вам', 'ваш', 'ваша', 'ваше', 'ваши', 'пожалуйста', 'спасибо', 'привет', 'здравствуйте', 'помоги', 'помогите',
  'можешь', 'можете', 'подскажи', 'подскажите', 'хочу',
  '저', '저는', '제가', '저도', '저를', '제', '나', '나는', '내가', '내', '저희', '우리', '너', '네가', '당신',
  'أنا', 'انا', 'وأنا', 'وانا', 'أنت', 'انت', 'أنتم', 'انتم', 'نحن', 'لي', 'شكرا', 'شكرًا', 'مرحبا', 'مرحبًا', 'ساعدني', 'يمكنني', 'يمكنك', 'أريد', 'اريد', 'أحتاج', 'احتاج',
  'عندي', 'لدي', 'لديّ', 'أستطيع', 'استطيع', 'أعرف', 'اعرف',
  // Italian, Turkish, Indonesian, Polish, Vietnamese, Hindi, Persian, Hebrew. Not "size" (Turkish "to
  // you", an English word), "was" (Polish "you"), "em" and "anh" (Vietnamese "I" and "you": a CSS unit,
  // "tiếng Anh", English), "ya" (Spanish "already"), "من" ("I" in Persian, "from" in Arabic: see
  // `persianPerson` in features.ts), "את" (Hebrew "you" and the object marker), "mohon" (instructions use it),
  // "ben" (Turkish "I", and Ben, a name in 28 GSM8K questions).
  'ho', 'posso', 'voglio', 'devo', 'sai', 'mie', 'tuo', 'tua', 'tuoi', 'tue', 'aiuto',
  'bana', 'beni', 'benim', 'bende', 'biz', 'bize', 'bizi', 'bizim', 'sen', 'sana', 'seni', 'senin', 'siz', 'sizi', 'sizin', 'lütfen', 'teşekkürler', 'teşekkür',
  'sağol', 'merhaba', 'selam', 'yardım', 'istiyorum', 'misin', 'mısın', 'musun', 'müsün', 'miyim', 'mıyım', 'yapabilirim', 'olabilir miyim',
  'saya', 'aku', 'kamu', 'anda', 'kami', 'kita', 'tolong', 'makasih', 'halo', 'bantu', 'bantuin', 'gimana', 'dong', 'sih', 'nih',
  'ja', 'mnie', 'mój', 'moja', 'moje', 'moim', 'mojej', 'mojego', 'nas', 'nam', 'nasz', 'nasza', 'nasze', 'ty', 'ciebie', 'cię', 'tobie', 'twój', 'twoja', 'twoje', 'wy', 'wam', 'wasz',
  'proszę', 'dziękuję', 'dzięki', 'cześć', 'pomóż', 'pomożesz', 'możesz', 'mógłbyś', 'mogłabyś', 'chcę', 'potrzebuję', 'mam', 'jestem', 'wiem',
  'tôi', 'tớ', 'bạn', 'chúng tôi', 'chúng ta', 'cảm ơn', 'cám ơn', 'xin chào', 'giúp', 'làm ơn', 'ạ', 'nhé', 'nha',
  'मैं', 'मुझे', 'मुझको', 'मेरा', 'मेरी', 'मेरे', 'हम', 'हमें', 'हमारा', 'हमारी', 'हमारे', 'आप', 'आपका', 'आपकी', 'आपके', 'तुम', 'तुम्हारा', 'तुम्हारी', 'कृपया', 'धन्यवाद', 'शुक्रिया', 'नमस्ते', 'मदद',
  'لطفا', 'لطفاً', 'ممنون', 'مرسی', 'متشکرم', 'سلام', 'میخواهم', 'می\u200cخواهم', 'میخوام', 'می\u200cخوام', 'میتونم', 'می\u200cتونم', 'می\u200cتوانم', 'میتوانم', 'میتونی', 'می\u200cتونی',
  'می\u200cتوانید', 'کمکم', 'شما', 'تو', 'مرا', 'دارم', 'هستم', 'کنم', 'بکنم',
  'אני', 'אתה', 'אתם', 'אתן', 'אנחנו', 'שלי', 'שלך', 'שלנו', 'שלכם', 'לי', 'לך', 'לנו', 'בבקשה', 'תודה', 'שלום', 'היי', 'עזרה', 'תעזור', 'תעזרו', 'תוכל', 'תוכלי', 'תוכלו', 'ואני', 'שאני', 'רוצה', 'אשמח',
];
/** "por favor", "per favore", and "je" before a French verb or pronoun (not the German "je", each): whole words too. */
export const PERSONAL_PHRASES = ['por favor', 'per favore', 'من فضلك', 'لو سمحت', 'السلام عليكم', 'terima kasih', 'dzień dobry', 'برای من', 'کد من',
  // Vietnamese "mình" (I) before a verb or after one, not the reflexive "của mình" (his own); "chị", "em", "anh" are kin too (sister, brother).
  ...['mình {muốn|cần|có|đang|bị|nên|phải|không|đã|viết|làm|thử}', '{giúp|cho|với} mình'].flatMap(expandPhrase), ...['ne', 'me', 'te', 'le', 'la', 'les', 'lui', 'leur', 'y', 'en', 'suis', 'peux', 'veux', 'voudrais', 'dois', 'sais', 'vais',
  'fais', 'cherche', 'comprends', 'travaille', 'pense', 'crois', 'trouve', 'connais', 'aimerais', 'souhaite', 'essaie', 'essaye', 'ai'].map((w) => `je ${w}`)];
/** French elision: j', m', t' (either apostrophe) before one of these (j'ai, m'aider). */
export const ELIDED_BEFORE = 'aeiouyhéèêàâîôû';
/** The Chinese, Japanese and Korean forms, found anywhere (no spaces between words, or endings on a verb). */
export const PERSONAL_CJK = ['我', '你', '您', '咱', '请问', '請問', '谢谢', '謝謝', '帮我', '幫我', '私', '僕', '俺', 'わたし', 'あなた', '教えて', '手伝って', 'もらえ', 'いただけ', 'お願い', 'ありがとう',
  'こんにちは', 'どうすれば', 'どうしたら', 'ればいい', 'いいでしょうか', '줘', '줄래', '도와', '좋을까', '감사합니다', '고마워', '안녕',
  // Thai, written without spaces: I, you, please, thanks, hello, and the polite particles of speech
  // (not "คะ" alone: "คะแนน", a score; not "คุณ" alone: "คุณภาพ", quality). Persian: "I ..." before a verb.
  'ผม', 'ฉัน', 'ดิฉัน', 'ครับ', 'ค่ะ', 'นะคะ', 'ไหมคะ', 'ดีคะ', 'คะ?', 'ขอบคุณ', 'สวัสดี', 'หน่อย', 'ของเรา', 'พวกเรา', 'คุณช่วย', 'ให้คุณ', 'ได้ไหม', 'ยังไงดี',
  'من می', 'من نمی'];
/**
 * Letters of those languages (Latin with accents, Vietnamese, Cyrillic, Hebrew, Arabic and Persian,
 * Devanagari, Hangul): what a word of PERSONAL_WORDS or PERSONAL_PHRASES may not touch (nor a digit after it).
 */
const isPersonLetter = (c: number) => (c >= 97 && c <= 122) || (c >= 0xc0 && c <= 0x24f) || (c >= 0x400 && c <= 0x4ff) || (c >= 0x5d0 && c <= 0x5ea)
  || (c >= 0x620 && c <= 0x6ff) || (c >= 0x900 && c <= 0x97f) || (c >= 0x1e00 && c <= 0x1eff) || (c >= 0xac00 && c <= 0xd7af);
const PERSON_LETTERS = 'a-z\\u00c0-\\u024f\\u0400-\\u04ff\\u05d0-\\u05ea\\u0620-\\u06ff\\u0900-\\u097f\\u1e00-\\u1eff\\uac00-\\ud7af';
/**
 * Latin letters with accents (not × and ÷): in a text that holds one, the English "i" alone is no
 * person word. Polish, Czech and Croatian "i" is "and", the Italian "i" an article ("i 5 clienti"),
 * and those languages write accents; an English "I" in a text with none counts as before.
 */
const isAccentedLatin = (c: number) => c >= 0xc0 && c <= 0x24f && c !== 0xd7 && c !== 0xf7;
const ACCENTED_FROM = /[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]/g;
/** What an English person word may not touch: a word character, an accented Latin letter, a combining mark (the Turkish "İ" lowercased is "i" and a dot), Vietnamese letters. */
const isLatinWordChar = (c: number) => isWordChar(c) || (c >= 0xc0 && (isAccentedLatin(c) || (c >= 0x300 && c <= 0x36f) || (c >= 0x1e00 && c <= 0x1eff)));
const LATIN_WORD = '\\w\\u00c0-\\u00d6\\u00d8-\\u00f6\\u00f8-\\u024f\\u0300-\\u036f\\u1e00-\\u1eff';
/** The person automaton's outputs (see personWords). */
const PERSON_EN = 1;
const PERSON_OTHER = 2;

/** The Turkish dotless ı, and the dotted capital İ as toLowerCase leaves it (see lowerText). */
const DOTLESS_I = '\u0131';
const DOTTED_I_LOWERED = /i\u0307/g;

/** Set in `lexiconHits`' result when the text was folded (see `foldText`) before it was matched. */
export const FOLDED = 1 << 6;

/**
 * Invisible format characters: combining grapheme joiner, Mongolian vowel separator, zero-width
 * space / non-joiner / joiner, direction marks, word joiner, invisible operators, BOM; and the soft
 * hyphen, removed too but no sign of evasion inside a word: word processors put it at hyphenation
 * points and documents pasted into a prompt carry it ("well\u00adorganized", seen in real prompts).
 */
const INVISIBLE = '\u034f\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff';
const SOFT_HYPHEN = 0xad;

/**
 * Letters of other scripts that imitate Latin ones (after Unicode's confusables list), each with
 * the lowercase Latin letter it imitates. Lowercase Cyrillic в к м н т are there because lowercasing
 * turns the look-alike capitals В К М Н Т into them. Cyrillic look-alikes and the Greek omicron are
 * impostors (IMPOSTOR below): in a word of Latin letters they are a sign of evasion. The other Greek letters are
 * folded for matching only: mathematics puts α or μ right after a Latin letter ("sinα", "kμ").
 */
const LOOKALIKES: Record<string, string> = {
  а: 'a', в: 'b', е: 'e', к: 'k', м: 'm', н: 'h', о: 'o', р: 'p', с: 'c', т: 't', у: 'y', х: 'x', і: 'i', ј: 'j', ѕ: 's', һ: 'h', ԁ: 'd', ԛ: 'q', ԝ: 'w', ӏ: 'l',
  А: 'a', В: 'b', Е: 'e', К: 'k', М: 'm', Н: 'h', О: 'o', Р: 'p', С: 'c', Т: 't', У: 'y', Х: 'x', І: 'i', Ј: 'j', Ѕ: 's', Һ: 'h', Ԁ: 'd', Ӏ: 'l',
  ο: 'o', Ο: 'o',
  α: 'a', β: 'b', ε: 'e', ζ: 'z', η: 'h', ι: 'i', κ: 'k', μ: 'm', ν: 'v', ρ: 'p', τ: 't', υ: 'u', χ: 'x',
  Α: 'a', Β: 'b', Ε: 'e', Ζ: 'z', Η: 'h', Ι: 'i', Κ: 'k', Μ: 'm', Ν: 'n', Ρ: 'p', Τ: 't', Υ: 'y', Χ: 'x',
};
const NOT_IMPOSTORS = 'αβεζηικμνρτυχΑΒΕΖΗΙΚΜΝΡΤΥΧ';

/** Letterlike symbols used as the mathematical alphabets' missing letters. */
const LETTERLIKE: Record<string, string> = {
  ℂ: 'c', ℊ: 'g', ℋ: 'h', ℌ: 'h', ℍ: 'h', ℎ: 'h', ℐ: 'i', ℑ: 'i', ℒ: 'l', ℕ: 'n', ℙ: 'p', ℚ: 'q', ℛ: 'r', ℜ: 'r', ℝ: 'r',
  ℤ: 'z', ℨ: 'z', ℬ: 'b', ℭ: 'c', ℯ: 'e', ℰ: 'e', ℱ: 'f', ℳ: 'm', ℴ: 'o',
};

// FOLD entries: 0 keep; otherwise the replacement's code in the low byte, plus these bits.
const REMOVE = 1 << 8;
const LETTER = 1 << 9;
const IMPOSTOR = 1 << 10;
/** A high surrogate that may start a mathematical letter or digit (U+1D400-U+1D7FF). */
const MATH_PAIR = 1 << 11;
const MATH_HIGH = 0xd835;

/** The ASCII letter or digit a mathematical alphanumeric symbol (U+1D400-U+1D7FF) is styled from, or 0. */
function mathAlphanumeric(cp: number): number {
  // 13 alphabets of 52 letters (A-Z, a-z), then Greek ones (not folded), then 5 sets of digits.
  if (cp >= 0x1d400 && cp < 0x1d400 + 13 * 52) return 97 + ((cp - 0x1d400) % 52) % 26;
  if (cp >= 0x1d7ce && cp <= 0x1d7ff) return 48 + (cp - 0x1d7ce) % 10;
  return 0;
}

/** Per character code: what folding does to it (see the bits above). Fullwidth Latin letters and digits map to ASCII. */
const FOLD = (() => {
  const t = new Uint16Array(65536);
  for (let i = 0; i < INVISIBLE.length; i++) t[INVISIBLE.charCodeAt(i)] = REMOVE;
  t[SOFT_HYPHEN] = REMOVE;
  for (const [from, to] of Object.entries(LOOKALIKES)) t[from.charCodeAt(0)] = to.charCodeAt(0) | LETTER | (NOT_IMPOSTORS.includes(from) ? 0 : IMPOSTOR);
  for (let c = 0xff10; c <= 0xff19; c++) t[c] = c - 0xff10 + 48;
  for (let c = 0xff21; c <= 0xff3a; c++) t[c] = (c - 0xff21 + 97) | LETTER;
  for (let c = 0xff41; c <= 0xff5a; c++) t[c] = (c - 0xff41 + 97) | LETTER;
  // Circled letters (Ⓐ ⓐ), and the letterlike symbols that stand in the mathematical alphabets' gaps (ℎ ℬ ℯ ℝ ...).
  for (let c = 0x24b6; c <= 0x24cf; c++) t[c] = (c - 0x24b6 + 97) | LETTER;
  for (let c = 0x24d0; c <= 0x24e9; c++) t[c] = (c - 0x24d0 + 97) | LETTER;
  for (const [from, to] of Object.entries(LETTERLIKE)) t[from.charCodeAt(0)] = to.charCodeAt(0) | LETTER;
  // The first half of a "fancy text" letter (𝐬𝐭𝐞𝐩, 𝘀𝘁𝗲𝗽: Mathematical Alphanumeric Symbols): see foldText.
  t[MATH_HIGH] = MATH_PAIR;
  return t;
})();

const isAsciiLetter = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
/** Letters of other alphabets and scripts: Latin-1 and Latin Extended, Greek, Cyrillic, kana, CJK ideographs, Hangul. */
const isOtherLetter = (c: number) => (c >= 0xc0 && c <= 0x24f && c !== 0xd7 && c !== 0xf7) || (c >= 0x370 && c <= 0x52f)
  || (c >= 0x3040 && c <= 0x30ff) || (c >= 0x3400 && c <= 0x9fff) || (c >= 0xac00 && c <= 0xd7af) || (c >= 0xf900 && c <= 0xfaff);

export interface FoldedText {
  text: string;
  /** Something was removed or mapped. */
  changed: boolean;
  /**
   * The text hides words: an invisible character between two letters of a word, or a word of
   * three letters or more that mixes Latin letters with Cyrillic (or omicron) look-alikes.
   */
  obfuscated: boolean;
}

/** The text as the model reads it: invisible characters removed, look-alike letters made Latin. Linear in the text. */
export function foldText(text: string): FoldedText {
  let out = '';
  let from = 0;
  let obfuscated = false;
  // The current word: its letters, Latin ones, impostors; and whether an invisible character followed a letter of it.
  let letters = 0; let latin = 0; let impostors = 0; let hidden = false;
  const endWord = () => {
    if (impostors > 0 && latin > 0 && letters >= 3) obfuscated = true;
    letters = 0; latin = 0; impostors = 0; hidden = false;
  };
  for (let i = 0, n = text.length; i < n; i++) {
    const c = charCodeAt(text, i);
    let f = FOLD[c];
    if ((f & MATH_PAIR) !== 0) {
      // A styled letter or digit is two code units: fold the pair to one ASCII character.
      const plain = mathAlphanumeric(text.codePointAt(i)!);
      if (plain === 0) f = 0;
      else {
        out += text.slice(from, i) + String.fromCharCode(plain);
        from = i + 2;
        i++;
        if (plain >= 97) letters++;
        else endWord();
        continue;
      }
    }
    if ((f & REMOVE) !== 0) {
      if (letters > 0 && c !== SOFT_HYPHEN) hidden = true;
      out += text.slice(from, i);
      from = i + 1;
      continue;
    }
    if ((f & LETTER) !== 0 || isAsciiLetter(c) || isOtherLetter(c)) {
      if (hidden) obfuscated = true;
      letters++;
      if ((f & IMPOSTOR) !== 0) impostors++;
      else if (isAsciiLetter(c)) latin++;
    } else endWord();
    if (f !== 0) {
      out += text.slice(from, i) + String.fromCharCode(f & 0xff);
      from = i + 1;
    }
  }
  endWord();
  return from === 0 ? { text, changed: false, obfuscated: false } : { text: out + text.slice(from), changed: true, obfuscated };
}

/** A phrase's strings, each with whether it must start and end at a word boundary (see the module comment). */
function phraseTerms(phrase: string): { text: string; start: boolean; end: boolean }[] {
  const openStart = phrase.startsWith('*');
  const openEnd = phrase.endsWith('*');
  const body = phrase.slice(openStart ? 1 : 0, openEnd ? -1 : undefined);
  return expandPhrase(body).map((text) => ({
    text,
    start: !openStart && isWordChar(text.charCodeAt(0)),
    end: !openEnd && isWordChar(text.charCodeAt(text.length - 1)),
  }));
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** ASCII, Arabic-Indic and Persian digits: a number in any of them, not touching a letter, digit or underscore. */
const DIGITS = '0-9\u0660-\u0669\u06f0-\u06f9';
const ARITHMETIC_RE = String.raw`(?<![\w${DIGITS}])[${DIGITS}]+\s*[+\-*/x×÷^]\s*[${DIGITS}]+(?![\w${DIGITS}])`;

/** One lexicon as a regular expression: the reference the scanner is tested against. */
export function lexiconRegExp(name: LexiconName): RegExp {
  const spec = LEXICONS[name];
  const parts: string[] = [];
  if (spec.phrases?.length) {
    parts.push(spec.phrases.flatMap(phraseTerms).map((t) => (t.start ? '\\b' : '') + dotlessAlike(escapeRe(t.text)) + (t.end ? '\\b' : '')).join('|'));
  }
  if (spec.words?.length) parts.push(String.raw`\b(?:${spec.words.flatMap(expandPhrase).map((w) => dotlessAlike(escapeRe(w))).join('|')})\b`);
  if (spec.lineEndsWith) parts.push(String.raw`[${escapeRe(spec.lineEndsWith)}]\s*$`);
  if (spec.arithmetic) parts.push(ARITHMETIC_RE);
  return new RegExp(parts.join('|'), 'm');
}

// Character tests with the meaning regular expressions give them (no `u` flag).
const isWordChar = (c: number) => (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || c === 95;
/** A digit of a number the arithmetic pattern reads: ASCII, Arabic-Indic (٠-٩) or Persian (۰-۹). */
const isDigit = (c: number) => (c >= 48 && c <= 57) || (c >= 0x660 && c <= 0x669) || (c >= 0x6f0 && c <= 0x6f9);
const isLineTerminator = (c: number) => c === 10 || c === 13 || c === 0x2028 || c === 0x2029;
const isSpace = (c: number) => (c >= 9 && c <= 13) || c === 32 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a)
  || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
const isArithmeticOperator = (c: number) => c === 43 || c === 45 || c === 42 || c === 47 || c === 120 || c === 0xd7 || c === 0xf7 || c === 94;

/** Set in `Automaton.outputs` when whole-word terms end in the state. */
const HAS_WORDS = 1 << 8;

/**
 * A match found by the automaton that counts only at a word boundary: its length, lexicon, and
 * which ends need one; `letters` (the other languages' person words): 1 no letter of theirs before
 * it, 2 nor a letter or digit after it.
 */
interface BoundedMatch { length: number; bit: number; start: boolean; end: boolean; letters: number }

/**
 * The compiled automaton. Its transitions are those of a dense table over the characters the
 * lexicons use (failure links folded in), held without one: ASCII text from the ASCII states
 * reads a dense table of those states over the ASCII columns (`ascii`); any other step follows
 * the trie's own edges (`edgeStart`, `edgeColumn`, `edgeTo`), then failure links (`fail`), down
 * to the root's full row (`rootNext`). A dense table of every state over every column was 30.8 MB
 * for the lexicons' 19,989 states and 771 columns: building it (a row copied a state, each page of
 * it mapped in) took about a fifth of the CPU of loading the detector, and a step in it from a
 * state of non-ASCII text read a row the processor's cache did not hold anyway.
 */
interface Automaton {
  /** Character code -> column (0: a character no phrase contains). */
  column: Uint16Array;
  columns: number;
  /** The root's transitions, by column. */
  rootNext: Uint16Array;
  /** Per state: its failure state (the state of the longest proper suffix of its path in the trie). */
  fail: Uint16Array;
  /** The trie's edges out of state s: `edgeStart[s]` to `edgeStart[s + 1]`. */
  edgeStart: Int32Array;
  edgeColumn: Uint16Array;
  edgeTo: Uint16Array;
  /** Per state: the lexicon bits of the phrases that end there (suffixes included), plus HAS_WORDS. */
  outputs: Int32Array;
  /** Word matches that end in each state (null: none), suffixes included. */
  bounded: (BoundedMatch[] | null)[];
  /**
   * The states whose path is ASCII text are numbered first, 0 to `asciiStates - 1`; from one of
   * them an ASCII character leads to another (a suffix of ASCII text is ASCII), found in `ascii`,
   * a table of those states over the ASCII columns only (`asciiColumn`, code -> column). English
   * text then walks a table of some hundreds of kilobytes that stays in the processor's cache.
   */
  asciiStates: number;
  asciiColumns: number;
  asciiColumn: Uint8Array;
  ascii: Uint16Array;
  /** Bits per character code: 1 a line-end character of `lineEndsWith`, 2 a digit, 4 a character `foldText` changes. */
  special: Uint8Array;
  lineEndBit: number;
  arithmeticBit: number;
}

/** The automaton's transitions without the ASCII table: the state after column `col` from `state` (see Automaton). */
function goto(a: Pick<Automaton, 'rootNext' | 'fail' | 'edgeStart' | 'edgeColumn' | 'edgeTo'>, state: number, col: number): number {
  // A character no phrase holds leads every state back to the root.
  if (col === 0) return 0;
  const { edgeStart, edgeColumn, edgeTo, fail } = a;
  while (state !== 0) {
    for (let k = edgeStart[state], end = edgeStart[state + 1]; k < end; k++) if (edgeColumn[k] === col) return edgeTo[k];
    state = fail[state];
  }
  return a.rootNext[col];
}

function compile(): Automaton {
  const terms: Term[] = [];
  let lineEndChars = ''; let lineEndBit = 0; let arithmeticBit = 0;
  for (const name of LEXICON_NAMES) {
    const spec = LEXICONS[name];
    for (const p of spec.phrases ?? []) for (const t of phraseTerms(p)) terms.push({ ...t, bit: HIT[name], letters: 0 });
    for (const w of spec.words ?? []) for (const text of expandPhrase(w)) terms.push({ text, bit: HIT[name], start: true, end: true, letters: 0 });
    if (spec.lineEndsWith) { if (lineEndBit) throw new Error('lexicon: one lineEndsWith only'); lineEndChars = spec.lineEndsWith; lineEndBit = HIT[name]; }
    if (spec.arithmetic) { if (arithmeticBit) throw new Error('lexicon: one arithmetic only'); arithmeticBit = HIT[name]; }
  }
  // Terms grouped by the block of their first character, ASCII first (a stable sort: the same
  // automaton, numbered differently): the states a script's text visits are then neighbours in the
  // table, and English text, most of it, keeps to the table's first rows, not to rows spread over
  // all of it (with eighteen languages the table is some 30 MB; scanning English text took about
  // a tenth more CPU with the states in declaration order).
  terms.sort((a, b) => (a.text.charCodeAt(0) >> 7) - (b.text.charCodeAt(0) >> 7));
  const built = automaton(terms);
  const special = new Uint8Array(65536);
  for (let i = 0; i < lineEndChars.length; i++) special[lineEndChars.charCodeAt(i)] |= 1;
  for (let c = 0; c < 65536; c++) if (isDigit(c)) special[c] |= 2;
  for (let c = 0; c < 65536; c++) if (FOLD[c] !== 0) special[c] |= 4;
  return { ...built, special, lineEndBit, arithmeticBit };
}

type Term = { text: string; bit: number; start: boolean; end: boolean; letters: number };

/** An Aho-Corasick automaton over `terms`, as a flat transition table. */
function automaton(given: Term[]): Omit<Automaton, 'special' | 'lineEndBit' | 'arithmeticBit'> {
  // The dotless ı is read as i, in the terms and in the text (one column): see lowerText.
  const terms = given.map((t) => (t.text.includes(DOTLESS_I) ? { ...t, text: t.text.replaceAll(DOTLESS_I, 'i') } : t));
  const column = new Uint16Array(65536);
  let columns = 1;
  for (const t of terms) for (let i = 0; i < t.text.length; i++) {
    const c = t.text.charCodeAt(i);
    if (column[c] === 0) column[c] = columns++;
  }
  if (column[105] === 0) column[105] = columns++;
  column[DOTLESS_I.charCodeAt(0)] = column[105];
  // The trie: first every term's ASCII start, so that the states of ASCII paths are numbered first
  // (see Automaton.ascii), then the terms whole.
  const children: Map<number, number>[] = [new Map()];
  const phraseBits: number[] = [0];
  const bounded: (BoundedMatch[] | null)[] = [null];
  const path = (text: string, upTo: number) => {
    let s = 0;
    for (let i = 0; i < upTo; i++) {
      const col = column[text.charCodeAt(i)];
      let n = children[s].get(col);
      if (n === undefined) { n = children.length; children.push(new Map()); phraseBits.push(0); bounded.push(null); children[s].set(col, n); }
      s = n;
    }
    return s;
  };
  for (const t of terms) {
    let i = 0;
    while (i < t.text.length && t.text.charCodeAt(i) < 128) i++;
    path(t.text, i);
  }
  const asciiStates = children.length;
  for (const t of terms) {
    const s = path(t.text, t.text.length);
    if (t.start || t.end || t.letters) (bounded[s] ??= []).push({ length: t.text.length, bit: t.bit, start: t.start, end: t.end, letters: t.letters });
    else phraseBits[s] |= t.bit;
  }
  // The trie's edges, each state's in the order they were made (a state's transitions do not depend on it).
  const states = children.length;
  if (states > 65535) throw new Error('lexicon: too many states for 16-bit transitions');
  const edgeStart = new Int32Array(states + 1);
  for (let s = 0; s < states; s++) edgeStart[s + 1] = edgeStart[s] + children[s].size;
  const edgeColumn = new Uint16Array(edgeStart[states]);
  const edgeTo = new Uint16Array(edgeStart[states]);
  for (let s = 0; s < states; s++) {
    let k = edgeStart[s];
    for (const [col, n] of children[s]) { edgeColumn[k] = col; edgeTo[k] = n; k++; }
  }
  const rootNext = new Uint16Array(columns);
  for (let k = edgeStart[0]; k < edgeStart[1]; k++) rootNext[edgeColumn[k]] = edgeTo[k];
  const fail = new Uint16Array(states);
  const built = { rootNext, fail, edgeStart, edgeColumn, edgeTo };
  // Breadth-first: each state's failure state is shallower, so its failure link and outputs are final.
  const queue: number[] = [];
  for (let k = edgeStart[0]; k < edgeStart[1]; k++) queue.push(edgeTo[k]);
  for (let q = 0; q < queue.length; q++) {
    const s = queue[q];
    const f = fail[s];
    phraseBits[s] |= phraseBits[f];
    if (bounded[f]) bounded[s] = [...(bounded[s] ?? []), ...bounded[f]!];
    for (let k = edgeStart[s]; k < edgeStart[s + 1]; k++) {
      const n = edgeTo[k];
      fail[n] = s === 0 ? 0 : goto(built, f, edgeColumn[k]);
      queue.push(n);
    }
  }
  const outputs = Int32Array.from(phraseBits, (bits, st) => bits | (bounded[st] ? HAS_WORDS : 0));
  // The ASCII states' rows over the ASCII columns (column 0 of this table: an ASCII character no term holds).
  const asciiColumn = new Uint8Array(128);
  const columnOf: number[] = [0];
  for (let c = 0; c < 128; c++) if (column[c] !== 0) { asciiColumn[c] = columnOf.length; columnOf.push(column[c]); }
  const asciiColumns = columnOf.length;
  const ascii = new Uint16Array(asciiStates * asciiColumns);
  // The root's row, then each state's in breadth-first order: its own edges, else its failure state's row (done before it).
  const order = [0, ...queue];
  for (const st of order) {
    if (st >= asciiStates) continue;
    const row = st * asciiColumns; const failRow = fail[st] * asciiColumns;
    for (let k = 0; k < asciiColumns; k++) {
      let to = st === 0 ? rootNext[columnOf[k]] : ascii[failRow + k];
      for (let e = edgeStart[st]; e < edgeStart[st + 1]; e++) if (edgeColumn[e] === columnOf[k]) { to = edgeTo[e]; break; }
      if (k === 0) to = 0;
      if (to >= asciiStates) throw new Error('lexicon: an ASCII character left the ASCII states');
      ascii[row + k] = to;
    }
  }
  return { column, columns, rootNext, fail, edgeStart, edgeColumn, edgeTo, outputs, bounded, asciiStates, asciiColumns, asciiColumn, ascii };
}

const A = compile();

/** `[{};]\s*$` (multiline) at `i`: white space from `i + 1` reaches a line end or the end of the text. */
function endsLine(s: string, i: number): boolean {
  for (let j = i + 1, n = s.length; j < n; j++) {
    const c = charCodeAt(s, j);
    if (isLineTerminator(c)) return true;
    if (!isSpace(c)) return false;
  }
  return true;
}

/** ARITHMETIC_RE from `i`, the first digit of a number (the caller checked the boundary before it: `numberMayStart`). */
function arithmeticAt(s: string, i: number): boolean {
  const n = s.length;
  let j = i;
  while (j < n && isDigit(charCodeAt(s, j))) j++;
  while (j < n && isSpace(charCodeAt(s, j))) j++;
  if (j >= n || !isArithmeticOperator(charCodeAt(s, j))) return false;
  j++;
  while (j < n && isSpace(charCodeAt(s, j))) j++;
  if (j >= n || !isDigit(charCodeAt(s, j))) return false;
  while (j < n && isDigit(charCodeAt(s, j))) j++;
  return j === n || !isWordChar(charCodeAt(s, j));
}
/** Where a number may start: at the text's start or after a character that is neither a word character nor a digit. */
const numberMayStart = (s: string, i: number) => i === 0 || (!isWordChar(charCodeAt(s, i - 1)) && !isDigit(charCodeAt(s, i - 1)));

/**
 * Text lowercased for the lexicons, the same whatever the locale. toLowerCase applies Unicode's
 * default mapping, not Turkish rules: a Turkish word in capitals loses its dotless ı ("ADIM" gives
 * "adim", not "adım"), and the dotted capital İ becomes an i and a combining dot above (U+0307),
 * one character more, so "SİYASİ" or an English "REWRİTE" held no lexicon word. Here İ is read as i;
 * the lexicons read the dotless ı as i too (both spellings are one letter to them). İ is the one
 * character whose lowercase is longer: a text that kept its length needs no second look.
 */
export function lowerText(text: string): string {
  const lower = text.toLowerCase();
  return lower.length === text.length ? lower : lower.replace(DOTTED_I_LOWERED, 'i');
}

/** A term's expression with the dotless ı and i one letter, as the automaton reads them. */
const dotlessAlike = (expression: string) => expression.replace(/[i\u0131]/g, '[i\u0131]');

/**
 * Which lexicons (HIT bits) occur in lowercased text, as written or as the model reads it: when
 * the text holds characters that `foldText` changes, its folded form is scanned too (and FOLDED
 * set). Both count: a phrase in a script that folding changes is found in the text as written.
 */
export function lexiconHits(text: string): number {
  const hits = scan(text);
  if ((hits & FOLDED) === 0) return hits;
  const folded = foldText(text);
  return folded.changed ? hits | scan(folded.text) : hits & ~FOLDED;
}

/**
 * The person words in one automaton of their own (PERSON_EN and PERSON_OTHER the bits of its
 * outputs), read only where `closedTask` asks: in a coding or maths turn, about a tenth of the
 * lexicons' table.
 */
const P = automaton([
  ...PERSONAL_EN.map((text) => ({ text, bit: PERSON_EN, start: true, end: true, letters: 0 })),
  ...[...PERSONAL_WORDS, ...PERSONAL_PHRASES].map((text) => ({ text, bit: PERSON_OTHER, start: false, end: false, letters: 2 })),
  ...[...'jmt'].flatMap((x) => [..."'\u2019"].flatMap((q) => [...ELIDED_BEFORE].map((v) => ({ text: x + q + v, bit: PERSON_OTHER, start: false, end: false, letters: 1 })))),
  ...PERSONAL_CJK.map((text) => ({ text, bit: PERSON_OTHER, start: false, end: false, letters: 0 })),
]);

/**
 * Whether lowercased text holds a person word: `personWordExpressions()` in one pass, stopping at
 * the first (a word of PERSONAL_EN as `\b` reads it; of PERSONAL_WORDS or PERSONAL_PHRASES with
 * no letter of theirs on either side nor a digit after; an elision; a CJK form anywhere).
 */
export function personWords(text: string): boolean {
  const { column, outputs, bounded, asciiStates, asciiColumns, asciiColumn, ascii } = P;
  let state = 0;
  // An English "i" seen (it counts only if the text has no accented Latin letter: see isAccentedLatin), and such a letter seen.
  let englishI = false; let accented = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = charCodeAt(text, i);
    if (c >= 0xc0 && !accented && isAccentedLatin(c)) accented = true;
    state = c < 128 && state < asciiStates ? ascii[state * asciiColumns + asciiColumn[c]] : goto(P, state, column[c]);
    const out = outputs[state];
    if (out === 0) continue;
    if ((out & 0xff) !== 0) return true;
    const words = bounded[state]!;
    for (let k = 0; k < words.length; k++) {
      const w = words[k];
      if (w.letters !== 0) { if (apartFromLetters(text, i, w)) return true; continue; }
      // A whole English word: no Latin letter, digit or underscore after it or before it ("hi" is not read in the Vietnamese "hiện").
      if (i + 1 < n && isLatinWordChar(charCodeAt(text, i + 1))) continue;
      const start = i + 1 - w.length;
      if (start !== 0 && isLatinWordChar(charCodeAt(text, start - 1))) continue;
      if (w.length !== 1) return true;
      // "i": not a Turkish suffix after an apostrophe ("%25'i").
      if (start >= 2 && (charCodeAt(text, start - 1) === 39 || charCodeAt(text, start - 1) === 0x2019) && isWordChar(charCodeAt(text, start - 2))) continue;
      if (accented) continue;
      // No accented letter so far: one expression looks for one in the rest (an English prompt has
      // none, and the automaton need not read the rest of it); with none, "i" is a person word.
      ACCENTED_FROM.lastIndex = i + 1;
      if (!ACCENTED_FROM.test(text)) return true;
      englishI = true;
    }
  }
  return englishI && !accented;
}

/** The reference `personWords` is tested against: the English words, and those of the other languages, as regular expressions. */
export function personWordExpressions(): [RegExp, RegExp] {
  const L = PERSON_LETTERS;
  return [
    // "i" not right after a word character and an apostrophe (Turkish "%25'i"), not before a combining
    // dot (the Turkish "İ" lowercased), and only in a text with no accented Latin letter.
    new RegExp(`(?<![${LATIN_WORD}])(?:${dotlessAlike(PERSONAL_EN.filter((w) => w !== 'i').join('|'))})(?![${LATIN_WORD}])|^(?![^]*[\\u00c0-\\u00d6\\u00d8-\\u00f6\\u00f8-\\u024f])[^]*?(?<!\\w['\u2019])(?<![${LATIN_WORD}])i(?![${LATIN_WORD}])`),
    new RegExp(`(?<![${L}])(?:${dotlessAlike([...PERSONAL_WORDS, ...PERSONAL_PHRASES].join('|'))})(?![${L}0-9])|(?<![${L}])[jmt]['\u2019](?=[${ELIDED_BEFORE}])|${PERSONAL_CJK.join('|')}`),
  ];
}

/** A person word of the other languages ending at `i` stands apart from their letters (see BoundedMatch.letters). */
function apartFromLetters(text: string, i: number, w: BoundedMatch): boolean {
  const start = i + 1 - w.length;
  if (start > 0 && isPersonLetter(charCodeAt(text, start - 1))) return false;
  if (w.letters === 1 || i + 1 >= text.length) return true;
  const after = charCodeAt(text, i + 1);
  return !isPersonLetter(after) && !isDigit(after);
}

function scan(text: string): number {
  const { column, outputs, bounded, asciiStates, asciiColumns, asciiColumn, ascii, special, lineEndBit, arithmeticBit } = A;
  let hits = 0;
  let state = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = charCodeAt(text, i);
    state = c < 128 && state < asciiStates ? ascii[state * asciiColumns + asciiColumn[c]] : goto(A, state, column[c]);
    const out = outputs[state];
    if (out === 0) { if (special[c] === 0) continue; }
    hits |= out & 0xff;
    if ((out & HAS_WORDS) !== 0) {
      const words = bounded[state]!;
      // A word or phrase ends here: accept it if it starts and ends at a word boundary where it must.
      const atEnd = isWordChar(c) !== (i + 1 < n && isWordChar(charCodeAt(text, i + 1)));
      for (let k = 0; k < words.length; k++) {
        const w = words[k];
        if (w.end && !atEnd) continue;
        const start = i + 1 - w.length;
        if (!w.start || (start === 0 ? isWordChar(charCodeAt(text, 0)) : isWordChar(charCodeAt(text, start - 1)) !== isWordChar(charCodeAt(text, start)))) hits |= w.bit;
      }
    }
    const sp = special[c];
    if (sp !== 0) {
      if ((sp & 1) !== 0 && (hits & lineEndBit) === 0 && endsLine(text, i)) hits |= lineEndBit;
      if ((sp & 2) !== 0 && (hits & arithmeticBit) === 0 && numberMayStart(text, i) && arithmeticAt(text, i)) hits |= arithmeticBit;
      if ((sp & 4) !== 0) hits |= FOLDED;
    }
    if (hits === ALL) break;
  }
  return hits;
}

/**
 * Texts that take every branch of `scan` and `foldText` once, read when the module loads. The
 * optimising compiler compiles a function for the branches it has seen run: a branch first taken
 * later (the first digit after an operator, the first look-alike letter) throws the compiled code
 * away, and the function is compiled again. Unwarmed, a scan of 150,000 events compiled `scan` 7
 * times and `foldText` 7 times, on the compiler's thread but on the scan's CPU.
 */
const WARM_UP = [
  'step by step, rate the response as a judge: rewrite about the election. def f(): return 12 + 3 {\n  x;  \nhow many',
  'a rubric. 7*8=56 9 - 1 ; }\nprobability of x2 the code_',
  'ste\u200bp by s\u0442ep \u0441\u0430t and p\u043eli\u0441y, \ud835\udc2c\ud835\udc2d\ud835\udc1e\ud835\udc29 \ud835\udfce, \ud835\udea8 well\u00adorganized \uff41\uff42 \u24d0 \u210e \u03b1\u03b2 \u4e00\u6b65\u4e00\u6b65',
  '\u4e00\u6b65\u4e00\u6b65 \u4ee3\u7801 \u591a\u5c11 \u6539\u5199 \u653f\u6cbb \u6253\u5206',
  '\u0663\u0664 + \u0665\u0668 \u06f1\u06f2 \u00d7 \u06f3',
];
// Several rounds: a function collects no feedback before its first few calls.
for (let round = 0; round < 4; round++) for (const text of WARM_UP) { lexiconHits(text); foldText(text); scan(text.slice(1)); }
for (let round = 0; round < 4; round++) for (const text of ['sure, i can', 'mi2 tu', 'l\u2019a', 'je suis', 'x \u6211', 'help']) personWords(text);

const REFERENCE = LEXICON_NAMES.map((name) => lexiconRegExp(name));
/** The same answer from each lexicon's regular expression (the reference `lexiconHits` is tested against). */
export function lexiconHitsOneByOne(text: string): number {
  const folded = foldText(text);
  let hits = folded.changed ? FOLDED : 0;
  for (let i = 0; i < REFERENCE.length; i++) if (REFERENCE[i].test(text) || REFERENCE[i].test(folded.text)) hits |= 1 << i;
  return hits;
}
