/** CSV reading shared by the IP database and sanctions list loaders. */

/** Split CSV text into records (quoted fields may contain newlines). */
export function parseCsvRecords(text: string, delimiter = ','): { fields: string[]; line: number }[] {
  const out: { fields: string[]; line: number }[] = [];
  let field = '', fields: string[] = [], inQuotes = false, line = 1, startLine = 1, any = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inQuotes) {
      if (c === '"') { if (text[i + 1] === '"') { field += '"'; i++; } else inQuotes = false; }
      else { if (c === '\n') line++; field += c; }
      continue;
    }
    if (c === '"' && field.trim() === '') { inQuotes = true; field = ''; any = true; }
    else if (c === delimiter) { fields.push(field); field = ''; any = true; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      if (any || field.length > 0) { fields.push(field); out.push({ fields, line: startLine }); }
      fields = []; field = ''; any = false; line++; startLine = line;
    } else { field += c; any = true; }
  }
  if (inQuotes) throw new Error(`unterminated quoted field starting on line ${startLine}`);
  if (any || field.length > 0) { fields.push(field); out.push({ fields, line: startLine }); }
  return out;
}
