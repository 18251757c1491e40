// The extract Lambda (SQS event source of S3 notifications for datasets/). Wiring only: the
// work is in src/edges/lambda/extractHandler.ts and src/pipeline/extract.ts.
import { makeExtractHandler } from '../../src/edges/lambda/extractHandler.js';
import { dynamoIndex, lazyBackbone, lazyTextEmbedder, logger, s3Store } from '../../src/edges/aws/environment.js';
import { metrics } from '../../src/edges/aws/observability.js';

export const handler = makeExtractHandler({ store: s3Store(), index: dynamoIndex(), embedder: lazyBackbone(), textEmbedder: lazyTextEmbedder(), logger: logger('headstart-extract'), metrics });
