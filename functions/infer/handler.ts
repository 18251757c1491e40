// The infer Lambda behind the HTTP API. Wiring only: routes live in src/api/router.ts. The backbone
// loads once per container; the current model pointer is re-read every POINTER_TTL_MS (default 5 s),
// so a newly promoted version is served without a redeploy.
import { makeInferHandler } from '../../src/edges/lambda/apiGateway.js';
import { batchJobRunner, dynamoIndex, lazyBackbone, logger, s3Store, s3UploadTarget } from '../../src/edges/aws/environment.js';
import { Predictor } from '../../src/pipeline/predict.js';

const store = s3Store();
const backbone = lazyBackbone();
const log = logger('headstart-infer');
let predictor: Promise<Predictor> | undefined;

/** The predictor, built once per container; a failed build (say, the backbone did not load) is retried next time. */
function loadPredictor(): Promise<Predictor> {
  if (predictor === undefined) {
    predictor = backbone().then((b) => new Predictor(store, b, { pointerTtlMs: Number(process.env['POINTER_TTL_MS'] ?? 5000) }));
    predictor.catch(() => (predictor = undefined));
  }
  return predictor;
}

export const handler = makeInferHandler({
  store,
  index: dynamoIndex(),
  jobs: batchJobRunner(store),
  uploads: s3UploadTarget(),
  predictor: loadPredictor,
  onError: (error) => log.error('request failed', error as Error),
});
