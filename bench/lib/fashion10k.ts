/**
 * A 10,000-image dataset of 28 px PNGs for training at scale through the CLI, made from the 2,000
 * shared fashion_mnist images (train and test): each image five times, as itself, mirrored, and
 * shifted by one pixel (right; down; mirrored and right), so every file has distinct bytes (the
 * trainer keeps byte-identical copies once) and its label's look.
 *
 *   npx tsx bench/lib/fashion10k.ts <out-folder>      # writes <out-folder>/<label>/<file>.png
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { datasetsDir } from '../../test/helpers/shared.js';

type Variant = (image: sharp.Sharp) => sharp.Sharp;
const shift = (dx: number, dy: number): Variant => (image) =>
  image.extend({ left: dx, top: dy, right: 0, bottom: 0, background: { r: 0, g: 0, b: 0 } });
const VARIANTS: Variant[] = [(i) => i, (i) => i.flop(), shift(1, 0), shift(0, 1), (i) => shift(1, 0)(i.flop())];

export async function makeFashion10k(out: string): Promise<number> {
  const root = path.join(datasetsDir(), 'fashion_mnist');
  let written = 0;
  for (const split of ['train', 'test']) {
    for (const label of (await readdir(path.join(root, split))).sort()) {
      await mkdir(path.join(out, label), { recursive: true });
      for (const file of (await readdir(path.join(root, split, label))).sort()) {
        const source = path.join(root, split, label, file);
        for (const [v, variant] of VARIANTS.entries()) {
          // Shifts extend the canvas; cropping back to 28 x 28 keeps the size of the originals.
          const shifted = await variant(sharp(source)).png().toBuffer();
          const png = await sharp(shifted).extract({ left: 0, top: 0, width: 28, height: 28 }).png().toBuffer();
          await writeFile(path.join(out, label, `${split}_${path.parse(file).name}_v${v}.png`), png);
          written++;
        }
      }
    }
  }
  return written;
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  const out = process.argv[2];
  if (!out) throw new Error('usage: npx tsx bench/lib/fashion10k.ts <out-folder>');
  process.stdout.write(`${await makeFashion10k(out)} images in ${out}\n`);
}
