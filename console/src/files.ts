/**
 * What a drop or a file picker hands over, as (folder, file) pairs: dropped folders are walked
 * (a folder's name becomes the label when dropped on the dataset), plain files have no folder.
 */
export interface PickedFile {
  /** The top-level dropped folder this file came from, if any. */
  folder: string | undefined;
  file: File;
}

function readEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

function entryFile(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function walk(entry: FileSystemEntry, folder: string | undefined, out: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    out.push({ folder, file: await entryFile(entry as FileSystemFileEntry) });
    return;
  }
  if (!entry.isDirectory) return;
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  // readEntries answers in chunks (100 in Chromium) until it answers an empty list.
  for (let chunk = await readEntries(reader); chunk.length > 0; chunk = await readEntries(reader)) {
    for (const child of chunk) await walk(child, folder ?? entry.name, out);
  }
}

export async function droppedFiles(data: DataTransfer): Promise<PickedFile[]> {
  const entries = [...data.items].map((item) => (item.kind === 'file' ? item.webkitGetAsEntry() : null));
  // Files put into a DataTransfer by script (and some platforms) have no entries: use the file list.
  if (entries.every((e) => e === null)) return [...data.files].map((file) => ({ folder: undefined, file }));
  const out: PickedFile[] = [];
  for (const entry of entries) if (entry !== null) await walk(entry, undefined, out);
  return out;
}

export function pickedFiles(list: FileList | null): PickedFile[] {
  return [...(list ?? [])].map((file) => {
    // A folder picker (webkitdirectory) gives relative paths: <folder>/<...>/<file>.
    const relative = file.webkitRelativePath;
    return { folder: relative && relative.includes('/') ? relative.split('/')[0] : undefined, file };
  });
}

/** Makes `zone` accept drops: highlights while dragging, hands the files to `onFiles`. */
export function dropZone(zone: HTMLElement, onFiles: (files: PickedFile[]) => void): void {
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    event.stopPropagation();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    event.stopPropagation();
    zone.classList.remove('dragging');
    if (event.dataTransfer) void droppedFiles(event.dataTransfer).then(onFiles);
  });
}
