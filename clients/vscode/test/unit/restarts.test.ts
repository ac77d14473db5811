import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Coalesced, CrashBudget } from '../../src/common/restarts';

describe('restarts', () => {
  test('calls during a restart collapse into one more restart', async () => {
    let runs = 0;
    let release: () => void = () => undefined;
    const restart = new Coalesced(async () => {
      runs++;
      await new Promise<void>((resolve) => (release = resolve));
    });
    const first = restart.run();
    const during = [restart.run(), restart.run(), restart.run()];
    assert.equal(runs, 1, 'no overlap');
    release();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(runs, 2, 'one queued run for the three calls');
    release();
    await Promise.all([first, ...during]);
    assert.equal(runs, 2);
    const later = restart.run();
    release();
    await later;
    assert.equal(runs, 3, 'a call after it settled runs again');
  });

  test('crash restarts are bounded within a time window', () => {
    const budget = new CrashBudget(3, 60_000);
    assert.deepEqual([budget.record(0), budget.record(1000), budget.record(2000), budget.record(3000)], [1, 2, 3, 4]);
    assert.equal(budget.record(62_500), 2, 'crashes older than the window no longer count');
  });
});
