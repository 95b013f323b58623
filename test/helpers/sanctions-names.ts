/**
 * Deterministic denied-party lists and customer names at full size, for the screening benchmark
 * and the test that the token index finds exactly what a scan of every list token finds.
 *
 * The list looks like OFAC's SDN list with its aliases (about 18,000 entries, 30,000 names):
 * people in Arabic, Russian, Persian, Chinese, Korean and Spanish transliteration, some in
 * Cyrillic, Arabic or Greek script; organisations and vessels with legal forms. Customers are
 * mostly names from other pools; a few are list names, reordered or misspelt, as real matches are.
 */
import type { SanctionsEntry } from '../../src/policy/sanctions.ts';

function generator(seed: number) {
  let s = seed >>> 0;
  const rnd = () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 4294967296; };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  return { rnd, pick };
}

const ARABIC_GIVEN = ['Mohammed', 'Muhammad', 'Ahmed', 'Ahmad', 'Ali', 'Hassan', 'Hussein', 'Abdullah', 'Abdul', 'Omar', 'Khalid', 'Ibrahim', 'Yusuf', 'Mustafa', 'Tariq', 'Saeed', 'Hamid', 'Karim', 'Nasser', 'Faisal', 'Jamal', 'Walid', 'Bilal', 'Rashid', 'Samir', 'Adnan', 'Mahmoud', 'Sami', 'Ismail', 'Anwar', 'Ziad', 'Fawzi', 'Hisham', 'Majid', 'Nabil', 'Osama', 'Qasim', 'Salim', 'Tawfiq', 'Yasin'];
const ARABIC_FAMILY = ['Al-Rashid', 'Al-Hakim', 'Haddad', 'Khoury', 'Mansour', 'Nasrallah', 'Qureshi', 'Saleh', 'Al-Masri', 'Al-Baghdadi', 'Hamdan', 'Jaber', 'Kassem', 'Darwish', 'Farouk', 'Ghanem', 'Habib', 'Issa', 'Al-Zawahiri', 'Shalabi', 'Tamimi', 'Yassin', 'Zaidan', 'Barakat', 'Abboud', 'Al-Obeidi', 'Al-Tikriti', 'Al-Shami', 'Bakri', 'Hijazi'];
const RUSSIAN_GIVEN = ['Ivan', 'Sergei', 'Sergey', 'Dmitri', 'Dmitry', 'Alexei', 'Aleksandr', 'Vladimir', 'Nikolai', 'Mikhail', 'Andrei', 'Yuri', 'Viktor', 'Oleg', 'Igor', 'Pavel', 'Boris', 'Gennady', 'Arkady', 'Konstantin', 'Roman', 'Yevgeny', 'Anatoly', 'Leonid', 'Valery', 'Olga', 'Natalia', 'Tatiana', 'Yelena', 'Irina'];
const RUSSIAN_FAMILY_STEMS = ['Petrov', 'Ivanov', 'Sokolov', 'Smirnov', 'Kuznetsov', 'Popov', 'Volkov', 'Morozov', 'Novikov', 'Fedorov', 'Lebedev', 'Kozlov', 'Orlov', 'Pavlov', 'Semenov', 'Golubev', 'Vinogradov', 'Bogdanov', 'Vorobyov', 'Zaitsev', 'Solovyov', 'Belov', 'Medvedev', 'Yermakov', 'Nikitin', 'Zakharov', 'Tarasov', 'Belyakov', 'Rotenberg', 'Timchenko', 'Deripask', 'Usmanov', 'Abramov', 'Prigozhin', 'Kovalchuk', 'Shamalov', 'Sechin', 'Chemezov', 'Gref', 'Kostin'];
const PATRONYMIC_STEMS = ['Ivanovich', 'Sergeyevich', 'Petrovich', 'Nikolaevich', 'Aleksandrovich', 'Vladimirovich', 'Mikhailovich', 'Andreyevich', 'Viktorovich', 'Borisovich'];
const PERSIAN_GIVEN = ['Reza', 'Mehdi', 'Hossein', 'Ali-Akbar', 'Mohsen', 'Javad', 'Abbas', 'Hamid-Reza', 'Gholam', 'Mojtaba', 'Ebrahim', 'Amir', 'Farhad', 'Behrouz', 'Kazem'];
const PERSIAN_FAMILY = ['Rezaei', 'Hosseini', 'Mohammadi', 'Ahmadi', 'Karimi', 'Jafari', 'Ghasemi', 'Soleimani', 'Rahimi', 'Moradi', 'Sadeghi', 'Abbasi', 'Najafi', 'Velayati', 'Larijani', 'Khamenei', 'Rafsanjani', 'Zarif', 'Salehi', 'Fakhrizadeh'];
const CHINESE_SYLLABLES = ['wei', 'li', 'zhang', 'wang', 'liu', 'chen', 'yang', 'huang', 'zhao', 'wu', 'zhou', 'xu', 'sun', 'ma', 'zhu', 'hu', 'guo', 'he', 'lin', 'gao', 'luo', 'zheng', 'liang', 'xie', 'song', 'tang', 'han', 'feng', 'deng', 'cao', 'peng', 'zeng', 'xiao', 'tian', 'dong', 'pan', 'yuan', 'jiang', 'cai', 'jun', 'ming', 'hong', 'qiang', 'hua', 'ping', 'yong', 'jian', 'xin'];
const KOREAN_FAMILY = ['Kim', 'Ri', 'Pak', 'Choe', 'Jong', 'Kang', 'Jo', 'Yun', 'Jang', 'Han'];
const KOREAN_GIVEN = ['Chol', 'Song', 'Il', 'Nam', 'Hyok', 'Myong', 'Yong', 'Su', 'Jin', 'Ho', 'Kwang', 'Chun', 'Sok', 'Hak', 'Gun'];
const SPANISH_GIVEN = ['Jose', 'Juan', 'Carlos', 'Luis', 'Miguel', 'Jesus', 'Rafael', 'Pedro', 'Manuel', 'Joaquin', 'Ismael', 'Rodrigo', 'Nicolas', 'Diosdado', 'Tareck', 'Hector', 'Ovidio', 'Aureliano', 'Arturo', 'Fernando'];
const SPANISH_FAMILY = ['Guzman', 'Zambada', 'Caro', 'Quintero', 'Fuentes', 'Carrillo', 'Beltran', 'Leyva', 'Arellano', 'Felix', 'Maduro', 'Moros', 'Cabello', 'Rondon', 'Saab', 'Pulido', 'Reverol', 'Padrino', 'Lopez', 'Rodriguez', 'Gonzalez', 'Hernandez', 'Martinez', 'Sanchez', 'Ramirez', 'Torres', 'Flores', 'Rivera', 'Gomez', 'Diaz', 'Castillo', 'Mendoza', 'Ortega', 'Vargas', 'Herrera'];
const CYRILLIC_GIVEN = ['Иван', 'Сергей', 'Дмитрий', 'Алексей', 'Владимир', 'Николай', 'Михаил', 'Андрей', 'Юрий', 'Ольга'];
const CYRILLIC_FAMILY = ['Петров', 'Иванов', 'Соколов', 'Смирнов', 'Кузнецов', 'Попов', 'Волков', 'Морозов', 'Новиков', 'Фёдоров', 'Лебедев', 'Козлов', 'Орлов', 'Павлов'];
const ARABIC_SCRIPT = ['محمد', 'أحمد', 'علي', 'حسن', 'حسين', 'عبد الله', 'عمر', 'خالد', 'إبراهيم', 'يوسف', 'الرشيد', 'الحكيم', 'حداد', 'منصور', 'صالح', 'المصري'];
const GREEK_SCRIPT = ['Γεώργιος', 'Νικόλαος', 'Κωνσταντίνος', 'Παπαδόπουλος', 'Παπαδάκης', 'Οικονόμου', 'Αλεξίου', 'Δημητρίου'];
const ORG_WORDS = ['Petro', 'Gas', 'Trans', 'Shipping', 'Maritime', 'Energy', 'Oil', 'Trading', 'Industrial', 'Bank', 'Invest', 'Capital', 'Holding', 'Group', 'Logistics', 'Technologies', 'Engineering', 'Aviation', 'Mining', 'Metals', 'Chemical', 'Precision', 'Electronics', 'Defence', 'Systems', 'Construction', 'Development', 'Export', 'Import', 'Commercial', 'Global', 'International', 'Pacific', 'Eastern', 'Northern', 'Golden', 'Star', 'Crescent', 'Sun', 'Ocean'];
const ORG_NAMES = ['Tehran', 'Kish', 'Bandar', 'Damascus', 'Aleppo', 'Pyongyang', 'Korea', 'Moscow', 'Rostov', 'Sevastopol', 'Minsk', 'Caracas', 'Havana', 'Dubai', 'Sharjah', 'Hong', 'Kong', 'Shenzhen', 'Dalian', 'Almaz', 'Rosoboron', 'Sever', 'Zvezda', 'Volga', 'Ural', 'Sibir', 'Amur', 'Baikal', 'Neva', 'Don', 'Mahan', 'Sepah', 'Saderat', 'Mellat', 'Parsian', 'Khatam', 'Ghaem', 'Kowsar', 'Arya', 'Naftiran'];
const LEGAL = ['LLC', 'Ltd', 'JSC', 'PJSC', 'OOO', 'FZE', 'Co.', 'S.A.', 'GmbH', 'Company Limited', 'Corporation', 'Pte Ltd', 'Sdn Bhd'];
const VESSEL_WORDS = ['Star', 'Grace', 'Pearl', 'Horizon', 'Ocean', 'Glory', 'Fortune', 'Dawn', 'Spirit', 'Wind', 'Sea', 'Light', 'Queen', 'Lady', 'Prince'];

/** A syllable-built surname so the list holds many distinct tokens, as the real lists do. */
function syllableName(g: ReturnType<typeof generator>, parts: readonly string[], count: number): string {
  let out = '';
  for (let i = 0; i < count; i++) out += g.pick(parts);
  return out[0].toUpperCase() + out.slice(1);
}
const LATIN_SYLLABLES = ['ka', 'ra', 'mi', 'lo', 'sha', 'dar', 'vik', 'ten', 'bor', 'zan', 'el', 'ov', 'yar', 'hu', 'nes', 'qa', 'tru', 'gol', 'fen', 'pir', 'mas', 'jal', 'kur', 'sin', 'dov'];

function personName(g: ReturnType<typeof generator>): { name: string; aliases: string[] } {
  const r = g.rnd();
  if (r < 0.3) {
    const given = g.pick(ARABIC_GIVEN), father = g.pick(ARABIC_GIVEN), family = g.rnd() < 0.7 ? g.pick(ARABIC_FAMILY) : `Al-${syllableName(g, LATIN_SYLLABLES, 3)}`;
    const name = `${family.toUpperCase()}, ${given} ${father}`;
    const aliases = g.rnd() < 0.5 ? [`${given.replace(/^Moh?amm?ed$/, 'Muhammad')} ${father} ${family.replace(/^Al-/, 'El ')}`] : [];
    if (g.rnd() < 0.15) aliases.push(`${g.pick(ARABIC_SCRIPT)} ${g.pick(ARABIC_SCRIPT)} ${g.pick(ARABIC_SCRIPT)}`);
    return { name, aliases };
  }
  if (r < 0.5) {
    const female = g.rnd() < 0.15;
    const stem = g.rnd() < 0.6 ? g.pick(RUSSIAN_FAMILY_STEMS) : syllableName(g, LATIN_SYLLABLES, 2) + 'ov';
    const family = female ? `${stem}a` : stem;
    const given = g.pick(RUSSIAN_GIVEN), patronymic = g.pick(PATRONYMIC_STEMS);
    const name = `${family.toUpperCase()}, ${given} ${female ? patronymic.replace(/ich$/, 'na') : patronymic}`;
    const aliases = g.rnd() < 0.4 ? [`${given} ${family.replace(/ov(a?)$/, 'off$1')}`] : [];
    if (g.rnd() < 0.2) aliases.push(`${g.pick(CYRILLIC_FAMILY)} ${g.pick(CYRILLIC_GIVEN)}`);
    return { name, aliases };
  }
  if (r < 0.62) {
    const name = `${g.pick(PERSIAN_FAMILY).toUpperCase()}, ${g.pick(PERSIAN_GIVEN)}`;
    return { name, aliases: g.rnd() < 0.3 ? [`${g.pick(PERSIAN_GIVEN)} ${g.pick(PERSIAN_FAMILY)}`] : [] };
  }
  if (r < 0.72) {
    const family = g.pick(CHINESE_SYLLABLES), given = g.pick(CHINESE_SYLLABLES) + g.pick(CHINESE_SYLLABLES);
    const name = `${family.toUpperCase()}, ${given[0].toUpperCase()}${given.slice(1)}`;
    return { name, aliases: g.rnd() < 0.3 ? [`${family} ${given.slice(0, 3)}-${given.slice(3)}`] : [] };
  }
  if (r < 0.8) {
    const name = `${g.pick(KOREAN_FAMILY).toUpperCase()}, ${g.pick(KOREAN_GIVEN)} ${g.pick(KOREAN_GIVEN)}`;
    return { name, aliases: g.rnd() < 0.5 ? [`${g.pick(KOREAN_FAMILY)} ${g.pick(KOREAN_GIVEN)}-${g.pick(KOREAN_GIVEN).toLowerCase()}`] : [] };
  }
  if (r < 0.95) {
    const name = `${g.pick(SPANISH_FAMILY).toUpperCase()} ${g.pick(SPANISH_FAMILY).toUpperCase()}, ${g.pick(SPANISH_GIVEN)}${g.rnd() < 0.4 ? ` ${g.pick(SPANISH_GIVEN)}` : ''}`;
    return { name, aliases: g.rnd() < 0.4 ? [`"${g.pick(['El', 'La'])} ${syllableName(g, LATIN_SYLLABLES, 2)}"`] : [] };
  }
  return { name: `${g.pick(GREEK_SCRIPT)} ${g.pick(GREEK_SCRIPT)}`, aliases: [] };
}

function orgName(g: ReturnType<typeof generator>): { name: string; aliases: string[] } {
  const words = [g.pick(ORG_NAMES), g.pick(ORG_WORDS)];
  if (g.rnd() < 0.6) words.push(g.pick(ORG_WORDS));
  if (g.rnd() < 0.3) words.unshift(syllableName(g, LATIN_SYLLABLES, 3));
  const name = `${words.join(' ')} ${g.pick(LEGAL)}`;
  const aliases = g.rnd() < 0.6 ? [`${words.join('')} ${g.pick(LEGAL)}`] : [];
  if (g.rnd() < 0.3) aliases.push(`${words.map((w) => w[0]).join('')}${syllableName(g, LATIN_SYLLABLES, 1)} ${g.pick(LEGAL)}`);
  return { name, aliases };
}

/** A list shaped like OFAC's SDN list with aliases: `entries` entries, about 1.7 names each. */
export function generateSanctionsEntries(entries = 18_000, seed = 1): SanctionsEntry[] {
  const g = generator(seed);
  const out: SanctionsEntry[] = [];
  for (let i = 0; i < entries; i++) {
    const r = g.rnd();
    const kind: SanctionsEntry['kind'] = r < 0.55 ? 'individual' : r < 0.93 ? 'entity' : 'vessel';
    const { name, aliases } = kind === 'individual' ? personName(g) : kind === 'entity' ? orgName(g) : { name: `${g.pick(VESSEL_WORDS).toUpperCase()} ${g.pick(VESSEL_WORDS).toUpperCase()} ${Math.floor(g.rnd() * 9) + 1}`, aliases: [] };
    // Real entries carry several spellings; fill up to about 30,000 names for 18,000 entries.
    while (g.rnd() < 0.12) aliases.push(kind === 'individual' ? personName(g).name : orgName(g).name);
    out.push({ id: `bench:${i + 1}`, source: 'bench', kind, names: [name, ...aliases], programs: [g.pick(['SDGT', 'IRAN', 'RUSSIA-EO14024', 'DPRK', 'SDNTK', 'VENEZUELA', 'SYRIA', 'CYBER2'])] });
  }
  return out;
}

const CUSTOMER_GIVEN = ['James', 'Mary', 'John', 'Patricia', 'Robert', 'Jennifer', 'Michael', 'Linda', 'William', 'Elizabeth', 'David', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Charles', 'Karen', 'Emma', 'Lukas', 'Sophie', 'Jonas', 'Léa', 'Hugo', 'Chloé', 'Mateo', 'Lucía', 'Giulia', 'Marco', 'Anna', 'Piotr', 'Agnieszka', 'Jan', 'Eva', 'Hiroshi', 'Yuki', 'Aiko', 'Priya', 'Rahul', 'Ananya', 'Arjun', 'Wei', 'Mei', 'Ji-woo', 'Min-jun', 'Olumide', 'Chiamaka', 'Kwame', 'Ama', 'Søren', 'Ingrid', 'Björn', 'Mohammed', 'Fatima', 'Ivan', 'Olga', 'José', 'María'];
const CUSTOMER_FAMILY = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Miller', 'Davis', 'Wilson', 'Anderson', 'Taylor', 'Thomas', 'Moore', 'Martin', 'Jackson', 'Thompson', 'White', 'Harris', 'Clark', 'Lewis', 'Walker', 'Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber', 'Dubois', 'Lefèvre', 'Moreau', 'Rossi', 'Russo', 'Bianchi', 'Nowak', 'Kowalski', 'Novák', 'Tanaka', 'Suzuki', 'Sato', 'Sharma', 'Patel', 'Gupta', 'Nguyen', 'Tran', 'Park', 'Lee', 'Okafor', 'Adeyemi', 'Mensah', 'Larsen', 'Nielsen', 'Johansson', 'Garcia', 'Fernández', 'Silva', 'Santos', 'Kaya', 'Yılmaz', 'Cohen', 'Levi', 'Novikova', 'Haddad'];
const CUSTOMER_ORG = ['Acme', 'Northwind', 'Contoso', 'Globex', 'Initech', 'Umbrella', 'Stark', 'Wayne', 'Hooli', 'Vandelay', 'Soylent', 'Tyrell', 'Cyberdyne', 'Aperture', 'Pied', 'Piper', 'Wonka', 'Oscorp', 'Dunder', 'Mifflin', 'Blue', 'Sky', 'Data', 'Labs', 'Analytics', 'Studio', 'Health', 'Robotics', 'Cloud', 'Learning', 'Software', 'Media', 'Research', 'Ventures', 'Partners'];

/**
 * `count` customer names (people and organisations): mostly from pools unlike the list's, with
 * invented surnames so that most tokens are new; one in 200 is a list name, reordered or misspelt.
 */
export function generateCustomerNames(count: number, list: SanctionsEntry[], seed = 2): string[] {
  const g = generator(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = g.rnd();
    if (r < 0.005) {
      const listed = g.pick(g.pick(list).names).replace(/[,"]/g, '').split(/\s+/);
      if (listed.length > 1 && g.rnd() < 0.5) listed.push(listed.shift()!); // reordered
      const w = Math.floor(g.rnd() * listed.length);
      if (listed[w].length > 4 && g.rnd() < 0.5) listed[w] = listed[w].slice(0, 2) + listed[w][3] + listed[w][2] + listed[w].slice(4); // transposed letters
      out.push(listed.join(' '));
    } else if (r < 0.75) {
      const family = g.rnd() < 0.5 ? g.pick(CUSTOMER_FAMILY) : syllableName(g, LATIN_SYLLABLES, 2 + Math.floor(g.rnd() * 2));
      out.push(`${g.pick(CUSTOMER_GIVEN)} ${g.rnd() < 0.2 ? `${g.pick(CUSTOMER_GIVEN)} ` : ''}${family}`);
    } else {
      out.push(`${g.pick(CUSTOMER_ORG)} ${g.rnd() < 0.5 ? syllableName(g, LATIN_SYLLABLES, 2) : g.pick(CUSTOMER_ORG)} ${g.pick(['Inc', 'Ltd', 'GmbH', 'SAS', 'BV', 'LLC', ''])}`.trim());
    }
  }
  return out;
}
