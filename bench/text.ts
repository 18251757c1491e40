/**
 * Text benchmark: headstart's TF-IDF text classifier beside scikit-learn's, on the same files, in one run.
 *
 *   npx tsx bench/text.ts [--quick] [--tasks banking77_full,banking77_10,clinc150] [--threads 1] [--no-sklearn] [--json out.json]
 *
 * Writes the CSVs both sides read into .bench/text/ (banking77 train / first 10 per intent / test;
 * clinc150 train / in-scope test / out-of-scope test), then for each task:
 * - headstart: TfidfFeaturizer.fit + trainSparseHead (lambda by 5-fold CV, refit) + the
 *   out-of-domain threshold, exactly what `headstart train` runs for a text dataset without a
 *   pretrained encoder, scored through TfidfClassifier (the serving path);
 * - scikit-learn (bench/text_baseline.py): TF-IDF word 1-2 + char_wb 2-5, LogisticRegression with
 *   C by 5-fold CV.
 * Out-of-domain on clinc150: headstart's flag as calibrated at training (5% false alarms on
 * out-of-fold training texts) and, beside scikit-learn's, both scores thresholded at <= 5% false
 * alarms on the in-scope test queries (recall on the 1,000 out-of-scope test queries).
 * Extraction throughput: texts/s of tiny-bert-random (TextBackbone.embedTexts) and of the fitted
 * TF-IDF featuriser on banking77 test texts.
 *
 * --cli runs headstart through the CLI instead (bin/headstart.js upload <csv>, train, eval <csv>,
 * predict --text - for the out-of-domain scores), each task in a fresh HEADSTART_HOME: the
 * acceptance path. Its fit time is the whole `train` command (CV, refit, publishing).
 *
 * --quick fits one regularisation strength on both sides (sklearn C=10; headstart lambda =
 * 1/(2 C n), the same strength for its unit-norm rows), for development on a shared machine.
 * Training times are wall clock, single thread on both sides (--threads), and move with the load.
 */
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse/sync';
import { TextBackbone } from '../src/text/TextBackbone.js';
import { fitTfidfModel, TfidfClassifier } from '../src/text/tfidfModel.js';
import { datasetsDir, modelsDir } from '../test/helpers/shared.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const workDir = path.join(repoRoot, '.bench', 'text');

interface Row {
  text: string;
  label: string;
}

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    tasks: { type: 'string', default: 'banking77_full,banking77_10,clinc150' },
    threads: { type: 'string', default: '1' },
    'no-sklearn': { type: 'boolean', default: false },
    cli: { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});

function csvCell(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

async function writeCsv(name: string, rows: readonly Row[]): Promise<void> {
  await writeFile(path.join(workDir, name), `text,label\n${rows.map((r) => `${csvCell(r.text)},${csvCell(r.label)}`).join('\n')}\n`);
}

async function prepare(): Promise<Record<string, Row[]>> {
  await mkdir(workDir, { recursive: true });
  const banking = async (file: string): Promise<Row[]> =>
    (parse(await readFile(path.join(datasetsDir(), 'banking77', file)), { columns: true }) as Array<{ text: string; category: string }>).map((r) => ({ text: r.text, label: r.category }));
  const train = await banking('train.csv');
  const seen = new Map<string, number>();
  // The first 10 of each intent in file order: deterministic, the same rows for both sides.
  const train10 = train.filter((r) => {
    const n = seen.get(r.label) ?? 0;
    seen.set(r.label, n + 1);
    return n < 10;
  });
  const clinc = JSON.parse(await readFile(path.join(datasetsDir(), 'clinc150', 'data_full.json'), 'utf8')) as Record<string, Array<[string, string]>>;
  const rows = (pairs: Array<[string, string]> | undefined): Row[] => (pairs ?? []).map(([text, label]) => ({ text, label }));
  const files: Record<string, Row[]> = {
    'banking77_train.csv': train,
    'banking77_train10.csv': train10,
    'banking77_test.csv': await banking('test.csv'),
    'clinc150_train.csv': rows(clinc['train']),
    'clinc150_test.csv': rows(clinc['test']),
    'clinc150_oos_test.csv': rows(clinc['oos_test']),
  };
  for (const [name, r] of Object.entries(files)) await writeCsv(name, r);
  return files;
}

interface HeadstartTask {
  accuracy: number;
  test: number;
  features: number;
  rows: number;
  lambda: number;
  featurizeSeconds: number;
  fitSeconds: number;
  ood?: { calibrated: { threshold: number; falseAlarms: number; recall: number }; atTestRate: { threshold: number; falseAlarms: number; recall: number } };
}

function quantileHigher(values: Float64Array, q: number): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * (sorted.length - 1)))] as number;
}

async function runHeadstart(train: Row[], test: Row[], oos: Row[] | undefined): Promise<HeadstartTask> {
  const classNames = [...new Set(train.map((r) => r.label))].sort();
  const labels = Int32Array.from(train, (r) => classNames.indexOf(r.label));
  const started = performance.now();
  const lambdas = args.quick ? [1 / (2 * 10 * train.length)] : undefined;
  const fitted = await fitTfidfModel(
    train.map((r) => r.text),
    labels,
    classNames,
    lambdas ? { head: { lambdas } } : {},
  );
  const fitSeconds = (performance.now() - started) / 1000;
  const classifier = TfidfClassifier.fromFitted(fitted);
  let right = 0;
  const inScores = new Float64Array(test.length);
  test.forEach((r, i) => {
    const p = classifier.predict(r.text);
    if (p.label === r.label) right++;
    inScores[i] = p.oodScore;
  });
  const result: HeadstartTask = {
    accuracy: right / test.length,
    test: test.length,
    features: fitted.featurizer.dimension,
    rows: train.length,
    lambda: fitted.trained.lambda,
    featurizeSeconds: 0,
    fitSeconds,
  };
  if (oos) {
    const oosScores = Float64Array.from(oos, (r) => classifier.predict(r.text).oodScore);
    const rate = (scores: Float64Array, t: number): number => scores.filter((s) => s > t).length / scores.length;
    const calibrated = fitted.outOfDomain.threshold;
    const atTest = quantileHigher(inScores, 0.95);
    result.ood = {
      calibrated: { threshold: calibrated, falseAlarms: rate(inScores, calibrated), recall: rate(oosScores, calibrated) },
      atTestRate: { threshold: atTest, falseAlarms: rate(inScores, atTest), recall: rate(oosScores, atTest) },
    };
  }
  return result;
}

/** `bin/headstart.js` in a child process with its own HEADSTART_HOME, as a user runs it. */
function headstart(home: string, args: string[], input?: string): string {
  const child = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'headstart.js'), ...args], {
    env: { ...process.env, HEADSTART_HOME: home, HEADSTART_MODELS: modelsDir() },
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    ...(input === undefined ? {} : { input }),
  });
  if (child.status !== 0) throw new Error(`headstart ${args.join(' ')} exited ${child.status}: ${child.stderr}`);
  return child.stdout;
}

/**
 * The same task through the CLI: upload the train CSV, train, eval the test CSV (and, for clinc150,
 * predict the in-scope and out-of-scope test texts from stdin for the out-of-domain flag).
 */
async function runCli(task: string, trainFile: string, testFile: string, oos: Row[] | undefined, test: Row[]): Promise<HeadstartTask> {
  const home = await mkdtemp(path.join(tmpdir(), 'headstart-bench-text-'));
  try {
    const started = performance.now();
    headstart(home, ['upload', path.join(workDir, trainFile), '--dataset', task, '--json']);
    const uploaded = performance.now();
    const model = JSON.parse(headstart(home, ['train', task, '--json'])) as { images: number; head: { lambda: number }; backbone: string };
    const trained = performance.now();
    const evaluated = JSON.parse(headstart(home, ['eval', task, path.join(workDir, testFile), '--json'])) as { accuracy: number; n: number };
    const result: HeadstartTask = { accuracy: evaluated.accuracy, test: evaluated.n, features: 0, rows: model.images, lambda: model.head.lambda, featurizeSeconds: (uploaded - started) / 1000, fitSeconds: (trained - uploaded) / 1000 };
    if (oos) {
      const scores = (rows: Row[]): { score: Float64Array; flagged: number } => {
        const lines = headstart(home, ['predict', task, '--text', '-', '--json'], rows.map((r) => r.text.replace(/\n/g, ' ')).join('\n')).trim().split('\n');
        const parsed = lines.map((l) => JSON.parse(l) as { oodScore: number; outOfDomain: boolean });
        return { score: Float64Array.from(parsed, (p) => p.oodScore), flagged: parsed.filter((p) => p.outOfDomain).length / parsed.length };
      };
      const inScope = scores(test);
      const outOfScope = scores(oos);
      const atTest = quantileHigher(inScope.score, 0.95);
      const rate = (v: Float64Array, t: number): number => v.filter((x) => x > t).length / v.length;
      result.ood = {
        calibrated: { threshold: Number.NaN, falseAlarms: inScope.flagged, recall: outOfScope.flagged },
        atTestRate: { threshold: atTest, falseAlarms: rate(inScope.score, atTest), recall: rate(outOfScope.score, atTest) },
      };
    }
    return result;
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

async function throughput(texts: string[]): Promise<{ tinyBert: number; tfidf: number }> {
  const backbone = await TextBackbone.load('tiny-bert-random', { modelsDir: modelsDir(), intraOpThreads: Number(args.threads) });
  const sample = texts.slice(0, 1000);
  await backbone.embedTexts(sample.slice(0, 32));
  let t = performance.now();
  await backbone.embedTexts(sample);
  const tinyBert = sample.length / ((performance.now() - t) / 1000);
  await backbone.release();
  const fitted = (await import('../src/text/tfidf.js')).TfidfFeaturizer.fit(texts);
  t = performance.now();
  for (const text of texts) fitted.transform(text);
  const tfidf = texts.length / ((performance.now() - t) / 1000);
  return { tinyBert, tfidf };
}

function sklearn(tasks: string[]): Record<string, { accuracy: number; fitSeconds: number; featurizeSeconds: number; C: number; ood?: { recall: number; falseAlarms: number } }> | string {
  const out = path.join(workDir, 'sklearn.json');
  const child = spawnSync('python3', [path.join(repoRoot, 'bench', 'text_baseline.py'), '--dir', workDir, '--out', out, '--threads', String(args.threads), '--tasks', tasks.join(','), ...(args.quick ? ['--cs', '10'] : [])], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (child.error) return `python3 could not be run (${child.error.message})`;
  if (child.status === 3) return 'scikit-learn is not installed (pip install scikit-learn numpy)';
  if (child.status !== 0) return `text_baseline.py exited ${child.status}`;
  return (JSON.parse(spawnSync('cat', [out], { encoding: 'utf8' }).stdout) as { tasks: Record<string, never> }).tasks;
}

const pct = (x: number | undefined): string => (x === undefined ? '-' : `${(100 * x).toFixed(1)}%`);

async function main(): Promise<void> {
  const files = await prepare();
  const tasks = (args.tasks ?? '').split(',').filter(Boolean);
  const ours: Record<string, HeadstartTask> = {};
  for (const task of tasks) {
    const started = Date.now();
    if (args.cli) {
      const [trainFile, testFile] = ({ banking77_full: ['banking77_train.csv', 'banking77_test.csv'], banking77_10: ['banking77_train10.csv', 'banking77_test.csv'], clinc150: ['clinc150_train.csv', 'clinc150_test.csv'] } as Record<string, [string, string]>)[task] ?? [];
      if (!trainFile || !testFile) throw new Error(`unknown task ${task}`);
      ours[task] = await runCli(task.replace(/_/g, '-'), trainFile, testFile, task === 'clinc150' ? files['clinc150_oos_test.csv'] : undefined, files[testFile]!);
    } else if (task === 'banking77_full') ours[task] = await runHeadstart(files['banking77_train.csv']!, files['banking77_test.csv']!, undefined);
    else if (task === 'banking77_10') ours[task] = await runHeadstart(files['banking77_train10.csv']!, files['banking77_test.csv']!, undefined);
    else if (task === 'clinc150') ours[task] = await runHeadstart(files['clinc150_train.csv']!, files['clinc150_test.csv']!, files['clinc150_oos_test.csv']!);
    else throw new Error(`unknown task ${task}`);
    console.error(`headstart ${task}: ${JSON.stringify(ours[task])} (${Date.now() - started} ms)`);
  }
  const speed = await throughput(files['banking77_test.csv']!.map((r) => r.text));
  const theirs = args['no-sklearn'] ? 'skipped (--no-sklearn)' : sklearn(tasks);

  console.log(`\nText classification, TF-IDF word 1-2 + char 2-5 + linear head, ${args.cli ? 'headstart through the CLI (upload CSV, train, eval; fit s = the train command)' : 'headstart core API'}, ${args.quick && !args.cli ? 'QUICK (one C/lambda)' : 'C/lambda by 5-fold CV'}, threads ${args.threads}`);
  console.log('| task | headstart accuracy | scikit-learn accuracy | gap (pt) | headstart fit s | scikit-learn fit s |');
  console.log('|---|---|---|---|---|---|');
  for (const task of tasks) {
    const a = ours[task]!;
    const b = typeof theirs === 'string' ? undefined : theirs[task];
    const gap = b ? (100 * (a.accuracy - b.accuracy)).toFixed(1) : '-';
    console.log(`| ${task} | ${pct(a.accuracy)} | ${pct(b?.accuracy)} | ${gap} | ${a.fitSeconds.toFixed(1)} | ${b ? (b.fitSeconds + b.featurizeSeconds).toFixed(1) : '-'} |`);
  }
  const clinc = ours['clinc150']?.ood;
  if (clinc) {
    const b = typeof theirs === 'string' ? undefined : theirs['clinc150']?.ood;
    console.log(`\nclinc150 out-of-scope recall at <= 5% false alarms on in-scope test: headstart ${pct(clinc.atTestRate.recall)} (false alarms ${pct(clinc.atTestRate.falseAlarms)}), scikit-learn max-probability ${pct(b?.recall)} (false alarms ${pct(b?.falseAlarms)})`);
    console.log(`headstart's flag as calibrated at training (5% of out-of-fold training texts): recall ${pct(clinc.calibrated.recall)}, false alarms on in-scope test ${pct(clinc.calibrated.falseAlarms)}`);
  }
  console.log(`\nExtraction throughput (banking77 test texts): tiny-bert-random ${speed.tinyBert.toFixed(0)} texts/s, TF-IDF featuriser ${speed.tfidf.toFixed(0)} texts/s`);
  if (typeof theirs === 'string') console.log(`scikit-learn: ${theirs}`);
  if (args.json) await writeFile(args.json, JSON.stringify({ headstart: ours, sklearn: theirs, throughput: speed }, null, 2));
}

await main();
