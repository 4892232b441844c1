import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TimedQueue } from '../../src/engine/timed-queue.js';

const drain = <T>(q: TimedQueue<T>): [T, number][] => {
  const out: [T, number][] = [];
  for (let x = q.take(); x !== undefined; x = q.take()) out.push([x, q.takenAt]);
  return out;
};

test('timed queue: first in, first out, each item with its time, across many pushes and takes', () => {
  const q = new TimedQueue<number>();
  for (let i = 0; i < 200_000; i++) q.push(i, i * 0.5);
  for (let i = 0; i < 150_000; i++) {
    assert.equal(q.take(), i);
    assert.equal(q.takenAt, i * 0.5);
  }
  q.push(-1, 7.25);
  assert.equal(q.length, 50_001);
  const rest = drain(q);
  assert.deepEqual(rest[0], [150_000, 75_000]);
  assert.deepEqual(rest.at(-1), [-1, 7.25]);
  assert.equal(q.length, 0);
  assert.equal(q.take(), undefined);
});

test('timed queue: moveTo hands over the ready items in order with their times and keeps the others', () => {
  const from = new TimedQueue<string>(),
    to = new TimedQueue<string>();
  to.push('x', 0);
  ['a', 'b', 'c', 'd'].forEach((s, i) => from.push(s, i + 1));
  from.moveTo(to, (s) => s !== 'b' && s !== 'd');
  assert.deepEqual(drain(to), [
    ['x', 0],
    ['a', 1],
    ['c', 3],
  ]);
  assert.deepEqual(drain(from), [
    ['b', 2],
    ['d', 4],
  ]);
});
