import { describe, expect, it } from 'vitest';
import { InvalidNameError } from '../../../src/errors.js';
import { validateName } from '../../../src/dataset/names.js';
import { datasetObjectKey, parseDatasetKey } from '../../../src/dataset/keys.js';

describe('validateName', () => {
  it.each(['ants', 'my set', 'Ameisen (groß)', 'муравьи', '蜜蜂', 'F.pergan.28(f).jpg', 'a+b%20c'])('accepts %j', (name) => {
    expect(validateName(name, 'file')).toBe(name.normalize('NFC'));
  });

  it.each([
    ['', 'is empty'],
    ['..', 'path segment'],
    ['.', 'path segment'],
    ['a/b', 'path separator'],
    ['a\\b', 'path separator'],
    [' lead', 'white space'],
    ['tab\there', 'control character'],
    ['x'.repeat(300), 'bytes long'],
  ])('refuses %j (%s)', (name, why) => {
    expect(() => validateName(name, 'label')).toThrow(InvalidNameError);
    expect(() => validateName(name, 'label')).toThrow(why);
  });

  it('normalises to NFC so composed and decomposed spellings are one label', () => {
    expect(validateName('cafe\u0301', 'label')).toBe(validateName('caf\u00e9', 'label'));
  });

  it('reserves dataset names starting with an underscore', () => {
    expect(() => validateName('_rejected', 'dataset')).toThrow("reserved");
  });
});

describe('dataset keys', () => {
  it('round-trips datasets/<dataset>/<label>/<file>', () => {
    const key = datasetObjectKey('my set', 'ants', 'ant photo (1).jpg');
    expect(key).toBe('datasets/my set/ants/ant photo (1).jpg');
    expect(parseDatasetKey(key)).toEqual({ dataset: 'my set', label: 'ants', file: 'ant photo (1).jpg' });
  });

  it.each(['datasets/ds/file.jpg', 'datasets/ds/a/b/file.jpg', 'datasets/ds/../x.jpg', 'models/ds/a/b.jpg', 'datasets//a/b.jpg'])('refuses %j', (key) => {
    expect(() => parseDatasetKey(key)).toThrow(InvalidNameError);
  });
});
