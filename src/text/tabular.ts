/**
 * Labelled texts from a table: CSV, TSV or JSON Lines, chosen by the file's extension. Every row
 * keeps its line number, so a bad row (missing column, empty text, bad label) is reported where a
 * person can find it, and the good rows go on.
 */
import { parse } from 'csv-parse/sync';
import { BadRequestError, InvalidTextError } from '../errors.js';
import { isValidName } from '../dataset/names.js';
import { checkText } from './validateText.js';

export type TableFormat = 'csv' | 'tsv' | 'jsonl';

export interface TableRow {
  /** 1-based line of the row in the file (its first line, for a quoted multi-line cell). */
  line: number;
  text: string;
  label: string;
}

export interface BadRow {
  line: number;
  reason: string;
}

export interface ParsedTable {
  rows: TableRow[];
  bad: BadRow[];
}

export interface TableColumns {
  text?: string;
  label?: string;
  /** Rows without a label are allowed (predicting): label becomes ''. */
  labelOptional?: boolean;
}

export function tableFormat(file: string): TableFormat {
  const ext = file.toLowerCase().split('.').pop();
  if (ext === 'csv') return 'csv';
  if (ext === 'tsv' || ext === 'tab') return 'tsv';
  if (ext === 'jsonl' || ext === 'ndjson') return 'jsonl';
  throw new BadRequestError(`${file}: not a table of texts (expected .csv, .tsv or .jsonl)`, 'unsupported_table');
}

function cellRecords(content: string, delimiter: string): Array<{ line: number; record: Record<string, unknown> }> {
  let records: Array<{ info: { lines: number }; record: Record<string, unknown> }>;
  try {
    records = parse(content, { columns: true, delimiter, bom: true, info: true, relax_column_count: true, skip_empty_lines: true, relax_quotes: delimiter === '\t' }) as typeof records;
  } catch (error) {
    const e = error as Error & { lines?: number };
    throw new BadRequestError(`the table cannot be read${e.lines ? ` at line ${e.lines}` : ''}: ${e.message}`, 'invalid_table', 400, { cause: error });
  }
  // info.lines is the line the record ENDS on; a record starts after the previous one ended.
  let previousEnd = 1;
  return records.map(({ info, record }) => {
    const line = previousEnd + 1;
    previousEnd = info.lines;
    return { line, record };
  });
}

function jsonRecords(content: string): { records: Array<{ line: number; record: Record<string, unknown> }>; bad: BadRow[] } {
  const records: Array<{ line: number; record: Record<string, unknown> }> = [];
  const bad: BadRow[] = [];
  content.replace(/^\uFEFF/, '').split(/\r?\n/).forEach((raw, i) => {
    if (raw.trim().length === 0) return;
    try {
      const value = JSON.parse(raw) as unknown;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) bad.push({ line: i + 1, reason: 'not a JSON object' });
      else records.push({ line: i + 1, record: value as Record<string, unknown> });
    } catch (error) {
      bad.push({ line: i + 1, reason: `not valid JSON: ${(error as Error).message}` });
    }
  });
  return { records, bad };
}

/**
 * Parses the table and checks every row: the text column present and a usable text (see
 * validateText), the label column present and a valid label name. Throws only when the table as a
 * whole is unusable (unreadable, or a named column that no row has).
 */
export function parseTable(content: string, format: TableFormat, columns: TableColumns = {}): ParsedTable {
  const textColumn = columns.text ?? 'text';
  const labelColumn = columns.label ?? 'label';
  const { records, bad } = format === 'jsonl' ? jsonRecords(content) : { records: cellRecords(content, format === 'tsv' ? '\t' : ','), bad: [] as BadRow[] };
  if (records.length > 0 && !records.some((r) => textColumn in r.record)) {
    const seen = Object.keys(records[0]!.record);
    throw new BadRequestError(`no column "${textColumn}" in the table (columns: ${seen.join(', ')}); name the text column with --text-column`, 'missing_column');
  }
  if (!columns.labelOptional && records.length > 0 && !records.some((r) => labelColumn in r.record)) {
    const seen = Object.keys(records[0]!.record);
    throw new BadRequestError(`no column "${labelColumn}" in the table (columns: ${seen.join(', ')}); name the label column with --label-column`, 'missing_column');
  }
  const rows: TableRow[] = [];
  for (const { line, record } of records) {
    const text = record[textColumn];
    const label = record[labelColumn];
    if (typeof text !== 'string') {
      bad.push({ line, reason: text === undefined || text === null ? `missing column "${textColumn}"` : `column "${textColumn}" is not a string` });
      continue;
    }
    let checked: string;
    try {
      checked = checkText(text);
    } catch (error) {
      if (!(error instanceof InvalidTextError)) throw error;
      bad.push({ line, reason: error.message });
      continue;
    }
    if (columns.labelOptional && (label === undefined || label === null || label === '')) {
      rows.push({ line, text: checked, label: '' });
      continue;
    }
    if (typeof label !== 'string' && typeof label !== 'number') {
      bad.push({ line, reason: `missing column "${labelColumn}"` });
      continue;
    }
    const name = String(label).normalize('NFC');
    if (!isValidName(name, 'label')) {
      bad.push({ line, reason: `label ${JSON.stringify(name)} is not a valid label name` });
      continue;
    }
    rows.push({ line, text: checked, label: name });
  }
  bad.sort((a, b) => a.line - b.line);
  return { rows, bad };
}
