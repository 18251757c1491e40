import { describe } from 'vitest';
import { openHomeDatabase } from '../../../src/adapters/local/HomeDatabase.js';
import { SqliteDatasetIndex } from '../../../src/adapters/local/SqliteDatasetIndex.js';
import { datasetIndexContract } from '../../helpers/datasetIndexContract.js';

describe('SqliteDatasetIndex', () => {
  datasetIndexContract(async () => new SqliteDatasetIndex(openHomeDatabase(':memory:')));
});
