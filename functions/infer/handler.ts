// The infer Lambda behind the HTTP API. Wiring only: routes live in src/api/router.ts. The backbone
// loads once per container; the current model pointer is re-read every POINTER_TTL_MS (default 5 s),
// so a newly promoted version is served without a redeploy. Text versions are served by one
// TextPredictor, whose encoder versions load the text encoder shipped in the asset (-c textBackbone).
import { makeInferHandler } from '../../src/edges/lambda/apiGateway.js';
import { batchJobRunner, dynamoIndex, lazyBackbone, loadOnce, logger, s3Store, s3UploadTarget, textPredictor } from '../../src/edges/aws/environment.js';
import { Predictor } from '../../src/pipeline/predict.js';

const store = s3Store();
const backbone = lazyBackbone();
const log = logger('headstart-infer');
const texts = textPredictor(store);

export const handler = makeInferHandler({
  store,
  index: dynamoIndex(),
  jobs: batchJobRunner(store),
  uploads: s3UploadTarget(),
  // Built once per container; a failed build (say, the backbone did not load) is retried next time.
  predictor: loadOnce(() => backbone().then((b) => new Predictor(store, b, { pointerTtlMs: Number(process.env['POINTER_TTL_MS'] ?? 5000) }))),
  textPredictor: () => texts,
  onError: (error) => log.error('request failed', error as Error),
});
