/**
 * The embedded runtime: everything the AWS deployment does, in one process on one machine.
 *
 *   folder store (plays S3, emits object events) -> LocalQueue (plays SQS + event source mapping)
 *   -> extractObjects (the extract Lambda's handler) ; LocalJobRunner (plays Batch) -> trainDataset
 *   ; Predictor + router (play the infer Lambda behind API Gateway)
 *
 * State lives under HEADSTART_HOME: bucket/ (the objects), queue.json (pending extraction work,
 * so a crash loses nothing), processes/ (a marker per open runtime: after a process that died
 * without closing, uploads whose event may have been lost are queued again, see crashRecovery.ts),
 * and the jobs/ records inside the bucket.
 */
import path from 'node:path';
import { FsObjectStore } from '../adapters/local/FsObjectStore.js';
import { LocalQueue } from '../adapters/local/LocalQueue.js';
import { objectEventMessageBody, parseLocalEventMessages } from '../adapters/local/localEvents.js';
import type { LocalConfig } from '../config.js';
import { Backbone } from '../backbone/Backbone.js';
import { defaultBackboneName } from '../backbone/resolveBackbone.js';
import { extractObjects, type ExtractOutcome } from '../pipeline/extract.js';
import { Predictor } from '../pipeline/predict.js';
import { TRAIN_ASSESSMENT, trainDataset, type TrainOptions } from '../pipeline/train.js';
import { backfillEmbeddings } from '../pipeline/backfill.js';
import { assessDataset, pickBackbone } from '../transfer/assess.js';
import type { ModelManifest } from '../registry/ModelManifest.js';
import { ModelRegistry } from '../registry/ModelRegistry.js';
import type { ApiContext } from '../api/router.js';
import { claimHome, unreconciledKeys, type HomeClaim } from './crashRecovery.js';
import { LocalJobRunner } from './LocalJobRunner.js';

export type OutcomeListener = (outcomes: ExtractOutcome[]) => void;

export class LocalRuntime {
  readonly registry: ModelRegistry;
  readonly jobs: LocalJobRunner;
  private backboneLoading: Promise<Backbone> | undefined;
  /** Other backbones, by catalogue name: for `train --backbone` and serving the versions they made. */
  private readonly otherBackbones = new Map<string, Promise<Backbone>>();
  private predictorLoading: Promise<Predictor> | undefined;
  private readonly listeners = new Set<OutcomeListener>();
  private readonly sending = new Set<Promise<unknown>>();
  private unsubscribe: (() => void) | undefined;

  private constructor(
    readonly config: LocalConfig,
    readonly store: FsObjectStore,
    readonly queue: LocalQueue,
    private readonly claim: HomeClaim,
  ) {
    this.registry = new ModelRegistry(store);
    this.jobs = new LocalJobRunner(store, async (dataset) => this.train(dataset));
  }

  static async open(config: LocalConfig): Promise<LocalRuntime> {
    const store = new FsObjectStore(path.join(config.home, 'bucket'));
    const queue = await LocalQueue.open(path.join(config.home, 'queue.json'));
    const claim = await claimHome(config.home);
    const runtime = new LocalRuntime(config, store, queue, claim);
    runtime.startExtraction();
    if (claim.crashedBefore) {
      const keys = await unreconciledKeys(store);
      await Promise.all(keys.map((key) => queue.send(objectEventMessageBody({ id: '', kind: 'created', key }))));
    }
    return runtime;
  }

  /** The extraction backbone, loaded on first use and then kept (loading is the slow part). */
  backbone(): Promise<Backbone> {
    this.backboneLoading ??= (async () => Backbone.load(this.config.backbone ?? (await defaultBackboneName())))();
    return this.backboneLoading;
  }

  /** A backbone by catalogue (or registered) name: the extraction one, or another loaded once and kept. */
  async backboneNamed(name: string): Promise<Backbone> {
    const extraction = await this.backbone();
    if (extraction.spec.name === name) return extraction;
    let loading = this.otherBackbones.get(name);
    if (loading === undefined) {
      loading = Backbone.load(name, { backbonesDir: this.backbonesDir });
      this.otherBackbones.set(name, loading);
      loading.catch(() => this.otherBackbones.delete(name));
    }
    return loading;
  }

  /** Where `registerBackbone` entries live for this home. */
  get backbonesDir(): string {
    return path.join(this.config.home, 'backbones');
  }

  predictor(): Promise<Predictor> {
    this.predictorLoading ??= this.backbone().then((backbone) => new Predictor(this.store, backbone, { embedderFor: (name) => this.backboneNamed(name) }));
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
   * assessment of every backbone on this machine ranks best.
   */
  async train(dataset: string, options: TrainOptions & { backbone?: string } = {}): Promise<ModelManifest> {
    const { backbone: choice, ...rest } = options;
    if (choice === 'auto') {
      const assessment = await assessDataset(this.store, dataset, { ...TRAIN_ASSESSMENT, location: { backbonesDir: this.backbonesDir }, seed: rest.seed ?? 0, device: this.config.device });
      const best = pickBackbone(assessment);
      const chosen = await this.backboneNamed(best.name);
      await backfillEmbeddings(this.store, dataset, chosen);
      return trainDataset({ store: this.store, backbone: chosen }, dataset, { device: this.config.device, ...rest, assessment });
    }
    const backbone = choice === undefined ? await this.backbone() : await this.backboneNamed(choice);
    // Extraction cached embeddings of its own backbone only; embed the rest with this one first.
    if (backbone !== (await this.backbone())) await backfillEmbeddings(this.store, dataset, backbone);
    return trainDataset({ store: this.store, backbone }, dataset, { device: this.config.device, ...rest });
  }

  apiContext(): ApiContext {
    return { store: this.store, jobs: this.jobs, predictor: () => this.predictor() };
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    await this.queue.stop();
    const loaded = [this.backboneLoading, ...this.otherBackbones.values()].filter((b): b is Promise<Backbone> => b !== undefined);
    await Promise.allSettled(loaded.map(async (b) => (await b).release()));
    await this.claim.release();
  }

  private startExtraction(): void {
    // Object events go to the queue, as S3 notifications go to SQS.
    this.unsubscribe = this.store.onEvent((event) => {
      const sent = this.queue.send(objectEventMessageBody(event));
      this.sending.add(sent);
      const forget = (): void => void this.sending.delete(sent);
      sent.then(forget, forget);
      return sent.then(() => undefined);
    });
    this.queue.start(async (batch) => {
      const { events, unreadable } = parseLocalEventMessages(batch);
      const result = await extractObjects(events, { store: this.store, embedder: await this.backbone() });
      for (const listener of this.listeners) listener(result.outcomes);
      // An unreadable message is failed, not dropped: after maxReceives it waits in the dead letters.
      return { failedIds: [...result.failedIds, ...unreadable.map((u) => u.id)] };
    }, { batchSize: 16, visibilityTimeoutMs: 120_000, maxReceives: 5, retryDelayMs: 1_000 });
  }
}
