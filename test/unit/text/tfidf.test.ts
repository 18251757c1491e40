import { describe, expect, it } from 'vitest';
import { charWbNgrams, TfidfFeaturizer, wordNgrams } from '../../../src/text/tfidf.js';
import { fitTfidfModel, TfidfClassifier, encodeTfidfModel, TFIDF_HEAD_FILE, TFIDF_STATE_FILE, calibrateMaxProbability } from '../../../src/text/tfidfModel.js';
import { balancedWeights, sparseObjective } from '../../../src/text/sparseHead.js';

describe('TF-IDF analysers (scikit-learn semantics)', () => {
  it('word 1-2-grams of 2+ letter tokens, Unicode letters included', () => {
    expect(wordNgrams('I lost MY card, Zürich!', [1, 2])).toEqual(['lost', 'my', 'card', 'zürich', 'lost my', 'my card', 'card zürich']);
  });
  it('char_wb 2-5-grams inside space-padded words; a short word is one gram', () => {
    // Expected values printed by scikit-learn: TfidfVectorizer(analyzer='char_wb', ngram_range=...).build_analyzer()(...)
    expect(charWbNgrams('ab cde', [2, 3])).toEqual([' a', 'ab', 'b ', ' ab', 'ab ', ' c', 'cd', 'de', 'e ', ' cd', 'cde', 'de ']);
    expect(charWbNgrams('a', [2, 5])).toEqual([' a', 'a ', ' a ']);
  });
  it('char n-grams work without spaces (Japanese)', () => {
    const f = TfidfFeaturizer.fit(['カードが届きません', '口座を開きたい']);
    expect(f.transform('カードが届かない').indices.length).toBeGreaterThan(3);
  });
  it('rows have unit norm, unseen n-grams are dropped, and the state round-trips', () => {
    const f = TfidfFeaturizer.fit(['card arrived late', 'lost my card', 'top up failed']);
    const row = f.transform('my card is lost');
    const norm = Math.sqrt(row.values.reduce((a, v) => a + v * v, 0));
    expect(norm).toBeCloseTo(1, 6);
    expect(f.transform('zzzz qqqq').indices.length).toBe(0);
    const again = TfidfFeaturizer.fromState(JSON.parse(JSON.stringify(f.toState())));
    expect(again.transform('my card is lost')).toEqual(row);
  });
});

describe('sparse linear head', () => {
  it('gradient matches finite differences', async () => {
    const f = TfidfFeaturizer.fit(['a card', 'lost card', 'top up', 'top up now']);
    const rows = f.transformAll(['a card', 'lost card', 'top up', 'top up now']);
    const labels = Int32Array.from([0, 0, 1, 1]);
    const all = Int32Array.from([0, 1, 2, 3]);
    const obj = sparseObjective(rows, labels, all, balancedWeights(labels, all, 2), f.dimension, 2, 0.01);
    const theta = Float64Array.from({ length: f.dimension * 2 + 2 }, (_, i) => Math.sin(i));
    const { g } = await obj(theta);
    for (const i of [0, 3, f.dimension, f.dimension * 2, f.dimension * 2 + 1]) {
      const h = 1e-6;
      const plus = theta.slice();
      plus[i]! += h;
      const minus = theta.slice();
      minus[i]! -= h;
      const numeric = ((await obj(plus)).f - (await obj(minus)).f) / (2 * h);
      expect(g[i]).toBeCloseTo(numeric, 6);
    }
  });

  it('learns separable intents, serialises, and flags off-topic text as out-of-domain', async () => {
    const texts = [
      ...['my card has not arrived', 'when will my card arrive', 'card still not here', 'waiting for my new card', 'card delivery is late', 'where is my card'],
      ...['top up failed', 'my top up did not work', 'cannot top up my account', 'top up declined', 'why did the top up fail', 'top up is pending'],
    ];
    const labels = Int32Array.from(texts, (_, i) => (i < 6 ? 0 : 1));
    const fitted = await fitTfidfModel(texts, labels, ['card_arrival', 'top_up_failed'], { head: { folds: 3 } });
    expect(fitted.trained.metrics.accuracy).toBeGreaterThan(0.9);
    const files = encodeTfidfModel(fitted);
    const served = TfidfClassifier.decode(files[TFIDF_STATE_FILE]!, files[TFIDF_HEAD_FILE]!, fitted.trained.classNames, fitted.outOfDomain);
    const p = served.predict('has my card arrived yet');
    expect(p.label).toBe('card_arrival');
    expect(p.top.map((t) => t.label)).toEqual(['card_arrival', 'top_up_failed']);
    expect(served.predict('the top up failed again').label).toBe('top_up_failed');
    expect(TfidfClassifier.fromFitted(fitted).predict('has my card arrived yet').probability).toBeCloseTo(p.probability, 6);
  });

  it('max-probability threshold flags the stated share of out-of-fold scores', () => {
    const probs = Float32Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 0.5 + (i / 400) : 0.5 - (i / 400)));
    const ood = calibrateMaxProbability(probs, 2, 0.05);
    let flagged = 0;
    for (let i = 0; i < 100; i++) if (1 - Math.max(probs[2 * i]!, probs[2 * i + 1]!) > ood.threshold) flagged++;
    expect(flagged).toBeLessThanOrEqual(5);
    expect(flagged).toBeGreaterThanOrEqual(4);
  });
});
