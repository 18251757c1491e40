import { afterAll, beforeAll, describe } from 'vitest';
import { motoIndex, startMoto, type MotoServer } from '../../helpers/moto.js';
import { datasetIndexContract } from '../../helpers/datasetIndexContract.js';

describe('DynamoDatasetIndex on moto_server', () => {
  let moto: MotoServer;
  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => moto?.stop());
  datasetIndexContract(async () => motoIndex(moto.endpoint));
});
