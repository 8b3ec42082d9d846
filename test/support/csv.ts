/** Reads RFC 4180 CSV back into rows of cells (quoted cells, doubled quotes, CRLF records): what a spreadsheet would see. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      if (ch === '"') quoted = false;
      else cell += ch;
      i++;
      continue;
    }
    if (ch === '"') {
      if (cell !== '') throw new Error(`a quote inside an unquoted cell at ${i}`);
      quoted = true;
    } else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else if (ch === '\r' || ch === '\n') {
      throw new Error(`a bare line break outside quotes at ${i}`);
    } else cell += ch;
    i++;
  }
  if (quoted) throw new Error('an unterminated quoted cell');
  if (cell !== '' || row.length > 0) throw new Error('the last record has no CRLF');
  return rows;
}
