import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../../../src/errors.js';
import { parseTable, tableFormat } from '../../../src/text/tabular.js';

describe('parseTable', () => {
  it('reads CSV rows with their line numbers, quoted commas and multi-line cells included', () => {
    const csv = 'text,label\nhello there,greet\n"a, b ""quoted""",other\n"two\nlines",greet\nbye,farewell\n';
    const { rows, bad } = parseTable(csv, 'csv');
    expect(bad).toEqual([]);
    expect(rows).toEqual([
      { line: 2, text: 'hello there', label: 'greet' },
      { line: 3, text: 'a, b "quoted"', label: 'other' },
      { line: 4, text: 'two\nlines', label: 'greet' },
      { line: 6, text: 'bye', label: 'farewell' },
    ]);
  });
  it('counts bad rows with line numbers and keeps the rest', () => {
    const csv = 'text,category\nok one,a\n,a\n   ,b\nfine,../x\nmissing label\nok two,b\n';
    const { rows, bad } = parseTable(csv, 'csv', { label: 'category' });
    expect(rows.map((r) => r.line)).toEqual([2, 7]);
    expect(bad.map((b) => b.line)).toEqual([3, 4, 5, 6]);
    expect(bad[0]!.reason).toMatch(/empty/);
    expect(bad[2]!.reason).toMatch(/not a valid label/);
    expect(bad[3]!.reason).toMatch(/missing column "category"/);
  });
  it('reads TSV and JSON Lines; a JSONL line that is not JSON is a bad row', () => {
    expect(parseTable('text\tlabel\nhi\tg\n', 'tsv').rows).toEqual([{ line: 2, text: 'hi', label: 'g' }]);
    const { rows, bad } = parseTable('{"text":"hi","label":"g"}\nnot json\n\n{"text":"yo","label":"h"}\n', 'jsonl');
    expect(rows.map((r) => [r.line, r.text])).toEqual([[1, 'hi'], [4, 'yo']]);
    expect(bad).toEqual([{ line: 2, reason: expect.stringMatching(/not valid JSON/) }]);
  });
  it('names a missing text column and the columns it has', () => {
    expect(() => parseTable('sentence,label\nhi,g\n', 'csv')).toThrow(/no column "text".*sentence, label.*--text-column/);
  });
  it('knows formats by extension and refuses others', () => {
    expect(tableFormat('a.CSV')).toBe('csv');
    expect(tableFormat('a.tsv')).toBe('tsv');
    expect(tableFormat('a.jsonl')).toBe('jsonl');
    expect(() => tableFormat('a.xlsx')).toThrow(BadRequestError);
  });
});
