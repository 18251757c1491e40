/**
 * Reads a labelled folder, `<folder>/<label>/<file>`, the layout users already have (and the one
 * the bucket uses). Hidden files are skipped; files outside a label folder, or nested deeper, are
 * reported, not silently dropped.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { BadRequestError } from '../errors.js';

export interface LabelledFile {
  label: string;
  file: string;
  path: string;
}

export interface LabelledFolder {
  files: LabelledFile[];
  /** Paths that do not fit the layout, with the reason. */
  skipped: { path: string; reason: string }[];
}

export async function readLabelledFolder(folder: string): Promise<LabelledFolder> {
  let info;
  try {
    info = await stat(folder);
  } catch {
    throw new BadRequestError(`folder ${JSON.stringify(folder)} does not exist`, 'folder_not_found', 404);
  }
  if (!info.isDirectory()) throw new BadRequestError(`${JSON.stringify(folder)} is not a folder: expected <folder>/<label>/<file>`, 'not_a_folder');
  const files: LabelledFile[] = [];
  const skipped: { path: string; reason: string }[] = [];
  for (const entry of (await readdir(folder, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const labelPath = path.join(folder, entry.name);
    if (!entry.isDirectory()) {
      skipped.push({ path: labelPath, reason: 'not inside a label folder (expected <folder>/<label>/<file>)' });
      continue;
    }
    for (const item of (await readdir(labelPath, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      if (item.name.startsWith('.')) continue;
      const itemPath = path.join(labelPath, item.name);
      if (item.isDirectory()) skipped.push({ path: itemPath, reason: 'nested folder: labels are one level deep' });
      else if (item.isFile()) files.push({ label: entry.name.normalize('NFC'), file: item.name.normalize('NFC'), path: itemPath });
    }
  }
  return { files, skipped };
}

/** Expands files and folders (recursively) into image file paths, in a stable order. */
export async function expandPaths(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    let info;
    try {
      info = await stat(p);
    } catch {
      throw new BadRequestError(`${JSON.stringify(p)} does not exist`, 'file_not_found', 404);
    }
    if (info.isFile()) out.push(p);
    else if (info.isDirectory()) {
      const entries = (await readdir(p, { withFileTypes: true, recursive: true }))
        .filter((e) => e.isFile() && !e.name.startsWith('.'))
        .map((e) => path.join(e.parentPath, e.name))
        .sort();
      out.push(...entries);
    }
  }
  return out;
}
