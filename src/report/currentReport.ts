/** The HTML report of a dataset's current model version, for the API and the CLI. */
import { ModelNotFoundError } from '../errors.js';
import type { ObjectStore } from '../ports/ObjectStore.js';
import { ModelRegistry } from '../registry/ModelRegistry.js';

export async function currentReport(store: ObjectStore, dataset: string, version?: string): Promise<string> {
  const registry = new ModelRegistry(store);
  const manifest = version === undefined ? await registry.current(dataset) : await registry.manifest(dataset, version);
  if (manifest === undefined) throw new ModelNotFoundError(`dataset "${dataset}" has no trained model yet, so no report`, { context: { dataset } });
  if (manifest.files.report === undefined) throw new ModelNotFoundError(`model ${dataset}/${manifest.version} was published without a report`, { context: { dataset } });
  return new TextDecoder().decode(await registry.file(dataset, manifest.version, manifest.files.report));
}
