/**
 * The embedded runtime: everything the AWS deployment does, in one process on one machine.
 *
 *   folder store (plays S3, emits object events) -> LocalQueue (plays SQS + event source mapping)
 *   -> extractObjects (the extract Lambda's handler) ; LocalJobRunner (plays Batch) -> trainDataset
 *   ; Predictor + router (play the infer Lambda behind API Gateway)
 *
 * State lives under HEADSTART_HOME: bucket/ (the objects, the embedding cache, model versions),
 * headstart.db (SQLite, WAL: the dataset index and its counters, the extraction queue, the training
 * jobs; shared safely by every process on the home), and processes/ (a marker per consuming runtime:
 * after a process that died without closing, uploads whose event may have been lost are queued
 * again, see crashRecovery.ts).
 *
 * Only runtimes opened with `consume: true` (upload, serve, demo) extract; read-only commands
 * (status, models, predict, eval) start no consumer and never take another process's work.
 */
import path from 'node:path';
import { FsObjectStore } from '../adapters/local/FsObjectStore.js';
import { LocalQueue } from '../adapters/local/LocalQueue.js';
import { homeDatabasePath, openHomeDatabase, type Sqlite } from '../adapters/local/HomeDatabase.js';
import { SqliteDatasetIndex } from '../adapters/local/SqliteDatasetIndex.js';
import { objectEventMessageBody, parseLocalEventMessages } from '../adapters/local/localEvents.js';
import type { LocalConfig } from '../config.js';
import type { Backbone } from '../backbone/Backbone.js';
import { defaultBackboneName } from '../backbone/resolveBackbone.js';
import type { Embedder, ExtractOutcome } from '../pipeline/extract.js';
import { extractByModality } from '../pipeline/extractByModality.js';
import type { TextPredictor } from '../pipeline/predictText.js';
import { defaultTextBackboneName } from '../text/resolveTextBackbone.js';
import type { TextBackbone } from '../text/TextBackbone.js';
import { encoderEmbedder, validatedTextEmbedder } from '../text/textEmbedders.js';
import type { Predictor } from '../pipeline/predict.js';
import type { TrainingBackbone, TrainOptions } from '../pipeline/train.js';
import { datasetSegment } from '../dataset/keys.js';
import type { ModelManifest } from '../registry/ModelManifest.js';
import { ModelRegistry } from '../registry/ModelRegistry.js';
import { LoadedByKey } from '../util/LoadedByKey.js';
import type { ApiContext } from '../api/router.js';
import { claimHome, unreconciledKeys, type HomeClaim } from './crashRecovery.js';
import { LocalJobRunner } from './LocalJobRunner.js';

export type OutcomeListener = (outcomes: ExtractOutcome[]) => void;

export class LocalRuntime {
  readonly registry: ModelRegistry;
  readonly jobs: LocalJobRunner;
  readonly index: SqliteDatasetIndex;
  private backboneLoading: Promise<Backbone> | undefined;
  /** Other backbones, by catalogue name: for `train --backbone` and serving the versions they made. */
  private readonly otherBackbones = new LoadedByKey<Backbone>((name) => import('../backbone/Backbone.js').then(({ Backbone }) => Backbone.load(name, { backbonesDir: this.backbonesDir })));
  private predictorLoading: Promise<Predictor> | undefined;
  private textEmbedderLoading: Promise<Embedder> | undefined;
  private textBackbone: TextBackbone | undefined;
  /** Text encoders other than extraction's, by name: for `train --backbone <encoder>` and `auto`. */
  private readonly otherTextBackbones = new LoadedByKey<TextBackbone>((name) => import('../text/TextBackbone.js').then(({ TextBackbone }) => TextBackbone.load(name, { backbonesDir: this.backbonesDir })));
  private textPredictorInstance: TextPredictor | undefined;
  private readonly listeners = new Set<OutcomeListener>();
  private readonly sending = new Set<Promise<unknown>>();
  private unsubscribe: (() => void) | undefined;

  private constructor(
    readonly config: LocalConfig,
    readonly store: FsObjectStore,
    readonly db: Sqlite,
    readonly queue: LocalQueue,
    private readonly claim: HomeClaim | undefined,
  ) {
    this.registry = new ModelRegistry(store);
    this.index = new SqliteDatasetIndex(db);
    this.jobs = new LocalJobRunner(db, async (dataset) => this.train(dataset));
  }

  /**
   * Opens the home. With `consume`, this runtime also extracts queued uploads (and, after a crash
   * of an earlier consumer, queues again the uploads whose event may have been lost).
   */
  static async open(config: LocalConfig, options: { consume?: boolean } = {}): Promise<LocalRuntime> {
    const store = new FsObjectStore(path.join(config.home, 'bucket'));
    const db = openHomeDatabase(homeDatabasePath(config.home));
    const queue = new LocalQueue({ db });
    // Uploads are queued by any runtime (a read-only one writes no objects, so sends nothing).
    const claim = options.consume ? await claimHome(config.home) : undefined;
    const runtime = new LocalRuntime(config, store, db, queue, claim);
    runtime.forwardEvents();
    if (claim !== undefined) {
      runtime.startExtraction();
      if (claim.crashedBefore) {
        const keys = await unreconciledKeys(store, runtime.index);
        for (const key of keys) await runtime.sendEvent(key, 'created');
      }
    }
    return runtime;
  }

  /** The extraction backbone, loaded on first use and then kept (loading is the slow part). */
  backbone(): Promise<Backbone> {
    // onnxruntime and sharp load with the first backbone, so commands that read counters start fast.
    this.backboneLoading ??= (async () => (await import('../backbone/Backbone.js')).Backbone.load(this.config.backbone ?? (await defaultBackboneName())))();
    return this.backboneLoading;
  }

  /**
   * The extraction backbone for training: the loaded one if this process has it, else one whose
   * session loads only if training must embed something (its embeddings are normally all cached).
   */
  private async trainingBackbone(): Promise<TrainingBackbone> {
    if (this.backboneLoading !== undefined) return this.backboneLoading;
    const { DeferredBackbone } = await import('../backbone/DeferredBackbone.js');
    return DeferredBackbone.resolve(this.config.backbone ?? (await defaultBackboneName()), { backbonesDir: this.backbonesDir }, () => this.backbone());
  }

  /** A backbone by catalogue (or registered) name: the extraction one, or another loaded once and kept. */
  async backboneNamed(name: string): Promise<Backbone> {
    const extraction = await this.backbone();
    if (extraction.spec.name === name) return extraction;
    return this.otherBackbones.get(name);
  }

  /**
   * What `.txt` uploads are extracted with: the default pretrained text encoder when one is
   * installed, else validation only (the TF-IDF baseline is fitted at training time).
   */
  textEmbedder(): Promise<Embedder> {
    this.textEmbedderLoading ??= (async () => {
      const name = await defaultTextBackboneName({ backbonesDir: this.backbonesDir });
      if (name === undefined) return validatedTextEmbedder;
      const { TextBackbone } = await import('../text/TextBackbone.js');
      this.textBackbone = await TextBackbone.load(name, { backbonesDir: this.backbonesDir });
      return encoderEmbedder(this.textBackbone);
    })();
    return this.textEmbedderLoading;
  }

  /** A text encoder by catalogue (or registered) name: the extraction one, or another loaded once and kept. */
  async textBackboneNamed(name: string): Promise<TextBackbone> {
    // The extraction encoder is shared when this process has loaded it (an upload then train in one run).
    if (this.textEmbedderLoading !== undefined) await this.textEmbedderLoading;
    if (this.textBackbone?.spec.name === name) return this.textBackbone;
    return this.otherTextBackbones.get(name);
  }

  /** Serves text versions (loaded once per version), with this home's registered encoders. */
  async textPredictor(): Promise<TextPredictor> {
    // Imported on first use: the text head's trainer pulls in onnxruntime, which `status` never needs.
    const { TextPredictor } = await import('../pipeline/predictText.js');
    this.textPredictorInstance ??= new TextPredictor(this.store, { location: { backbonesDir: this.backbonesDir } });
    return this.textPredictorInstance;
  }

  /** Where `registerBackbone` entries live for this home. */
  get backbonesDir(): string {
    return path.join(this.config.home, 'backbones');
  }

  predictor(): Promise<Predictor> {
    this.predictorLoading ??= Promise.all([this.backbone(), import('../pipeline/predict.js')]).then(([backbone, { Predictor }]) => new Predictor(this.store, backbone, { embedderFor: (name) => this.backboneNamed(name) }));
    return this.predictorLoading;
  }

  /** Hears the outcome of every extracted object (the CLI's progress bar and summary). */
  onOutcomes(listener: OutcomeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once every event sent so far has been extracted (or dead-lettered). */
  async drain(): Promise<void> {
    while (this.sending.size > 0) await Promise.allSettled([...this.sending]);
    await this.queue.idle();
  }

  /**
   * Trains with the extraction backbone, a named one, or (`auto`) the one that the transfer
   * assessment ranks best (the choice is the core's: see trainChoosingBackbone).
   */
  async train(dataset: string, options: TrainOptions & { backbone?: string } = {}): Promise<ModelManifest> {
    const { trainChoosingBackbone } = await import('../pipeline/trainChoosingBackbone.js');
    return trainChoosingBackbone(
      { store: this.store, index: this.index },
      {
        extraction: () => this.trainingBackbone(),
        named: (name) => this.backboneNamed(name),
        location: { backbonesDir: this.backbonesDir },
        text: { location: { backbonesDir: this.backbonesDir }, load: (name) => this.textBackboneNamed(name) },
      },
      dataset,
      { device: this.config.device, ...options },
    );
  }

  /** True when this runtime extracts queued uploads (opened with `consume`). */
  get consuming(): boolean {
    return this.claim !== undefined;
  }

  /** Extraction work still queued for a dataset (exact: the queue is in the same database). */
  async pendingFor(dataset: string): Promise<number> {
    return this.queue.pendingFor(dataset);
  }

  apiContext(): ApiContext {
    return { store: this.store, index: this.index, pendingFor: (dataset) => this.pendingFor(dataset), jobs: this.jobs, predictor: () => this.predictor(), textPredictor: () => this.textPredictor() };
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    await Promise.allSettled([...this.sending]);
    await this.queue.stop();
    const loaded = [this.backboneLoading, ...this.otherBackbones.values()].filter((b): b is Promise<Backbone> => b !== undefined);
    await Promise.allSettled(loaded.map(async (b) => (await b).release()));
    await this.textBackbone?.release();
    await Promise.allSettled(this.otherTextBackbones.values().map(async (b) => (await b).release()));
    await this.textPredictorInstance?.release();
    await this.claim?.release();
    this.db.close();
  }

  private sendEvent(key: string, kind: 'created' | 'removed'): Promise<string> {
    const dataset = datasetSegment(key);
    return this.queue.send(objectEventMessageBody({ id: '', kind, key }), dataset === undefined ? {} : { dataset });
  }

  /** Object events go to the queue, as S3 notifications go to SQS. */
  private forwardEvents(): void {
    this.unsubscribe = this.store.onEvent((event) => {
      const sent = this.sendEvent(event.key, event.kind);
      this.sending.add(sent);
      const forget = (): void => void this.sending.delete(sent);
      sent.then(forget, forget);
      return sent.then(() => undefined);
    });
  }

  private startExtraction(): void {
    this.queue.start(async (batch) => {
      const { events, unreadable } = parseLocalEventMessages(batch);
      const result = await extractByModality(events, { store: this.store, index: this.index }, { image: () => this.backbone(), text: () => this.textEmbedder() });
      for (const listener of this.listeners) listener(result.outcomes);
      // An unreadable message is failed, not dropped: after maxReceives it waits in the dead letters.
      return { failedIds: [...result.failedIds, ...unreadable.map((u) => u.id)] };
    }, { batchSize: 16, visibilityTimeoutMs: 120_000, maxReceives: 5, retryDelayMs: 1_000, pollIntervalMs: 250 });
  }
}
