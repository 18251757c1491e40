/**
 * `npx headstart <command>`: the local edge. It parses arguments, calls the core through the local
 * runtime, and formats output. Scripts depend on the commands, flags and JSON shapes below.
 */
import { Command, CommanderError } from 'commander';
import { BadRequestError, describeError, isHeadstartError } from '../errors.js';
import { localConfig } from '../config.js';
import type { LocalRuntime } from '../local/LocalRuntime.js';
import { UsageError } from './output.js';

// Each command's module (and through it onnxruntime, sharp, the AWS SDK) is imported when the
// command runs, not here: `headstart --help` or a usage error then loads commander alone and
// answers at once (the build splits every dynamic import into its own chunk).

/**
 * Opens the runtime for a command and always closes it, so the process can exit. Only commands
 * that write uploads (`consume`) extract; the rest read the home and take no queued work.
 */
export async function withRuntime<T>(fn: (runtime: LocalRuntime) => Promise<T>, options: { consume?: boolean } = {}): Promise<T> {
  const { LocalRuntime } = await import('../local/LocalRuntime.js');
  const runtime = await LocalRuntime.open(localConfig(), options);
  try {
    return await fn(runtime);
  } finally {
    await runtime.close();
  }
}

function program(): Command {
  const cli = new Command('headstart')
    .description('Image classifiers from a few labelled images: a frozen ImageNet backbone and a small trained head.')
    .showHelpAfterError()
    .exitOverride();

  cli
    .command('upload')
    .description('upload <folder>/<label>/<file> images, or the rows of a .csv/.tsv/.jsonl of labelled texts, into a dataset and extract them')
    .argument('<folder>', 'folder with one sub-folder per label, or a table of texts (.csv, .tsv, .jsonl)')
    .requiredOption('--dataset <name>', 'dataset to upload into')
    .option('--text-column <name>', 'column holding the text (tables; default text)')
    .option('--label-column <name>', 'column holding the label (tables; default label)')
    .option('--json', 'print the summary as JSON')
    .action(async (folder: string, options: { dataset: string; json?: boolean; textColumn?: string; labelColumn?: string }) =>
      withRuntime(async (rt) => {
        const text = await import('./commands/text.js');
        if (text.isTablePath(folder)) return text.uploadTableCommand(rt, folder, options);
        return (await import('./commands/upload.js')).uploadCommand(rt, folder, options);
      }, { consume: true }));

  cli
    .command('train')
    .description('train a head on the dataset, publish it as a new version and make it current')
    .argument('<name>', 'dataset')
    .option('--json', 'print the model summary as JSON')
    .option('--hidden <units>', 'add one hidden layer of this many units', (v) => parsePositiveInt(v, '--hidden'))
    .option('--seed <n>', 'random seed (training is deterministic for a seed)', (v) => parsePositiveInt(v, '--seed', true), 0)
    .option('--backbone <name>', "backbone to train on: a catalogue name, or 'auto' for the one the transfer assessment ranks best (texts: a text encoder's name, 'tfidf', or 'auto' for the better of the installed encoders and TF-IDF)")
    .action(async (name: string, options: { json?: boolean; hidden?: number; seed: number; backbone?: string }) => withRuntime(async (rt) => (await import('./commands/train.js')).trainCommand(rt, name, options)));

  cli
    .command('assess')
    .description('does pretraining help here? LogME and linear-probe accuracy per backbone vs a no-transfer baseline (pixels; TF-IDF n-grams for texts), with a verdict')
    .argument('<name>', 'dataset')
    .option('--json', 'print JSON { backbones: [{ id, logme, probeAccuracy }], baselineAccuracy, gain, verdict, explanation }')
    .option('--backbones <names>', 'comma-separated backbone names (default: every backbone on this machine)', (v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .action(async (name: string, options: { json?: boolean; backbones?: string[] }) => withRuntime(async (rt) => (await import('./commands/assess.js')).assessCommand(rt, name, options)));

  cli
    .command('eval')
    .description("predict every image of a labelled folder with the dataset's current model and score it")
    .argument('<name>', 'dataset')
    .argument('<folder>', 'folder with one sub-folder per label, or a table of labelled texts (.csv, .tsv, .jsonl)')
    .option('--text-column <name>', 'column holding the text (tables; default text)')
    .option('--label-column <name>', 'column holding the label (tables; default label)')
    .option('--json', 'print JSON { accuracy, macroF1, n, perClass, confusion, labels }')
    .action(async (name: string, folder: string, options: { json?: boolean; textColumn?: string; labelColumn?: string }) =>
      withRuntime(async (rt) => {
        const text = await import('./commands/text.js');
        if (text.isTablePath(folder)) return text.evalTableCommand(rt, name, folder, options);
        return (await import('./commands/eval.js')).evalCommand(rt, name, folder, options);
      }));

  cli
    .command('predict')
    .description('predict images (files or folders) with the current model')
    .argument('<name>', 'dataset')
    .argument('[paths...]', 'image files or folders')
    .option('--text <text>', "a text to classify (repeatable); '-' reads one text per line from stdin", (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--json', 'one JSON line per image or text')
    .action(async (name: string, paths: string[], options: { json?: boolean; text: string[] }) =>
      withRuntime(async (rt) => {
        if (options.text.length > 0 && paths.length > 0) throw new BadRequestError('give either image paths or --text, not both', 'bad_arguments');
        if (options.text.length > 0) return (await import('./commands/text.js')).predictTextCommand(rt, name, options.text, options);
        if (paths.length === 0) throw new BadRequestError('nothing to predict: give image files or folders, or --text "..."', 'bad_arguments');
        return (await import('./commands/predict.js')).predictCommand(rt, name, paths, options);
      }));

  cli
    .command('status')
    .description('images per label, pending work, failures and the current model')
    .argument('[name]', 'dataset (all datasets when omitted)')
    .option('--json', 'print JSON')
    .action(async (name: string | undefined, options: { json?: boolean }) => withRuntime(async (rt) => (await import('./commands/status.js')).statusCommand(rt, name, options)));

  cli
    .command('models')
    .description("list a dataset's model versions")
    .argument('<name>', 'dataset')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }) => withRuntime(async (rt) => (await import('./commands/models.js')).modelsCommand(rt, name, options)));

  cli
    .command('promote')
    .description('make a version current')
    .argument('<name>', 'dataset')
    .argument('<version>', 'model version')
    .action(async (name: string, version: string) => withRuntime(async (rt) => (await import('./commands/models.js')).promoteCommand(rt, name, version)));

  cli
    .command('rollback')
    .description('go back to the version that was current before')
    .argument('<name>', 'dataset')
    .action(async (name: string) => withRuntime(async (rt) => (await import('./commands/models.js')).rollbackCommand(rt, name)));

  cli
    .command('report')
    .description("write the model version's self-contained HTML report and print its path")
    .argument('<name>', 'dataset')
    .option('--version <version>', 'a version other than the current one')
    .option('--out <file>', 'where to write it (default <name>-report.html)')
    .action(async (name: string, options: { version?: string; out?: string }) => withRuntime(async (rt) => (await import('./commands/report.js')).reportCommand(rt, name, options)));

  const backbone = cli.command('backbone').description('backbones: turn any ONNX image classifier into a feature extractor');
  backbone
    .command('add')
    .description('register an ONNX image classifier as a backbone: headstart mean-pools its feature tensor (named, or found by structure) into an embedding')
    .argument('<file>', 'the .onnx model')
    .requiredOption('--name <name>', 'a name for it (lower case, digits, . _ -)')
    .option('--feature-tensor <tensor>', 'the internal tensor to pool, e.g. the last feature map [N,C,H,W] (default: the input of the last global pooling before the classifier)')
    .option('--input <name>', 'the image input, when the model has several')
    .option('--text', 'a BERT-family text encoder (input_ids, attention_mask, token_type_ids -> last_hidden_state) instead of an image classifier')
    .option('--tokenizer <file>', "the encoder's tokenizer.json (with --text)")
    .option('--json', 'print JSON')
    .action(async (file: string, options: { name: string; featureTensor?: string; input?: string; json?: boolean; text?: boolean; tokenizer?: string }) =>
      withRuntime(async (rt) => {
        if (options.text) return (await import('./commands/text.js')).addTextBackboneCommand(rt, file, options);
        if (options.tokenizer) throw new BadRequestError('--tokenizer is for text encoders: add --text', 'bad_arguments');
        return (await import('./commands/backbone.js')).addBackboneCommand(rt, file, options);
      }));

  cli
    .command('backbones')
    .description('list the backbones this machine can use')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => withRuntime(async (rt) => (await import('./commands/backbone.js')).listBackbonesCommand(rt, options)));

  cli
    .command('serve')
    .description('serve the HTTP API (127.0.0.1 unless --host says otherwise)')
    .option('--port <n>', 'port', (v) => parsePositiveInt(v, '--port'), 8080)
    .option('--host <address>', 'address to bind', '127.0.0.1')
    .action(async (options: { port: number; host: string }) => (await import('./commands/serve.js')).serveCommand(options));

  cli
    .command('demo', { hidden: true })
    .description('the quick-start demo (npm start): upload, train, evaluate and predict a sample set')
    .option('--folder <path>', 'a labelled folder with train/ and test/ inside (default: the bundled Fashion-MNIST sample)')
    .action(async (options: { folder?: string }) => (await import('./commands/demo.js')).demoCommand(options));

  return cli;
}

function parsePositiveInt(value: string, flag: string, allowZero = false): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new UsageError(`${flag} must be a whole number${allowZero ? '' : ' above 0'}, got ${JSON.stringify(value)}`);
  return n;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed its message (unknown command, missing argument...).
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`headstart: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`headstart: ${describeError(error)}\n`);
    if (!isHeadstartError(error) && process.env['HEADSTART_DEBUG']) process.stderr.write(`${(error as Error).stack ?? ''}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
