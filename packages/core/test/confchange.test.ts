/**
 * Table tests of membership change arithmetic: single-server changes, entering and leaving joint
 * consensus, learners and pending learners (`learnersNext`), and every change that must be refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidConfChangeError } from '@flotilla/core';
import {
  applyConfChange,
  configFromConfState,
  enterJoint,
  leaveJoint,
  simpleChange,
} from '../src/confchange.ts';
import { EMPTY_TRACKER_CONFIG, type TrackerConfig, toConfState } from '../src/tracker.ts';
import type { ConfChange, ConfState } from '../src/types.ts';

function config(cs: Partial<ConfState>): TrackerConfig {
  return configFromConfState({
    voters: [],
    learners: [],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
    ...cs,
  });
}

function state(c: TrackerConfig): ConfState {
  return toConfState(c);
}

const NONE_STATE: ConfState = {
  voters: [],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
};

test('single-server changes apply directly (thesis §4.1)', () => {
  const table: { from: Partial<ConfState>; cc: ConfChange; want: Partial<ConfState> }[] = [
    { from: { voters: [1] }, cc: { changes: [{ op: 'addVoter', nodeId: 2 }] }, want: { voters: [1, 2] } },
    {
      from: { voters: [1, 2, 3] },
      cc: { changes: [{ op: 'removeNode', nodeId: 3 }] },
      want: { voters: [1, 2] },
    },
    {
      from: { voters: [1, 2] },
      cc: { changes: [{ op: 'addLearner', nodeId: 3 }] },
      want: { voters: [1, 2], learners: [3] },
    },
    // promotion: a learner becomes a voter
    {
      from: { voters: [1], learners: [2] },
      cc: { changes: [{ op: 'addVoter', nodeId: 2 }] },
      want: { voters: [1, 2] },
    },
    // demotion: a voter becomes a learner (one voter changes)
    {
      from: { voters: [1, 2] },
      cc: { changes: [{ op: 'addLearner', nodeId: 2 }] },
      want: { voters: [1], learners: [2] },
    },
    {
      from: { voters: [1], learners: [2] },
      cc: { changes: [{ op: 'removeNode', nodeId: 2 }] },
      want: { voters: [1] },
    },
    // idempotent: adding an existing voter or removing an unknown node changes nothing
    { from: { voters: [1, 2] }, cc: { changes: [{ op: 'addVoter', nodeId: 2 }] }, want: { voters: [1, 2] } },
    {
      from: { voters: [1, 2] },
      cc: { changes: [{ op: 'removeNode', nodeId: 9 }] },
      want: { voters: [1, 2] },
    },
  ];
  for (const { from, cc, want } of table) {
    assert.deepEqual(
      state(applyConfChange(config(from), cc)),
      { ...NONE_STATE, ...want },
      JSON.stringify(cc),
    );
  }
});

test('several changes enter a joint configuration that leaves by itself unless explicit (thesis §4.3)', () => {
  const from = config({ voters: [1, 2, 3] });
  const swap: ConfChange['changes'] = [
    { op: 'addVoter', nodeId: 4 },
    { op: 'removeNode', nodeId: 3 },
  ];
  const auto = state(applyConfChange(from, { changes: swap }));
  assert.deepEqual(auto, { ...NONE_STATE, voters: [1, 2, 4], votersOutgoing: [1, 2, 3], autoLeave: true });
  const explicit = state(applyConfChange(from, { changes: swap, transition: 'joint-explicit' }));
  assert.equal(explicit.autoLeave, false);
  assert.deepEqual(explicit.votersOutgoing, [1, 2, 3]);
  // a single change can also go through joint consensus when asked
  const implicit = state(applyConfChange(from, { changes: [swap[0]!], transition: 'joint-implicit' }));
  assert.deepEqual(implicit, {
    ...NONE_STATE,
    voters: [1, 2, 3, 4],
    votersOutgoing: [1, 2, 3],
    autoLeave: true,
  });
  // an empty change leaves the joint configuration
  const left = state(applyConfChange(configFromConfState(auto), { changes: [] }));
  assert.deepEqual(left, { ...NONE_STATE, voters: [1, 2, 4] });
});

test('a voter demoted in a joint change is a pending learner until the joint config is left', () => {
  const joint = enterJoint(config({ voters: [1, 2, 3] }), true, [{ op: 'addLearner', nodeId: 3 }]);
  assert.deepEqual(state(joint), {
    ...NONE_STATE,
    voters: [1, 2],
    votersOutgoing: [1, 2, 3],
    learnersNext: [3],
    autoLeave: true,
  });
  assert.deepEqual(state(leaveJoint(joint)), { ...NONE_STATE, voters: [1, 2], learners: [3] });
  // re-adding the pending learner as a voter cancels the demotion
  const back = enterJoint(config({ voters: [1, 2, 3] }), false, [
    { op: 'addLearner', nodeId: 3 },
    { op: 'addVoter', nodeId: 3 },
  ]);
  assert.deepEqual(state(back).learnersNext, []);
  assert.deepEqual(state(back).voters, [1, 2, 3]);
});

test('changes never mutate their input configuration', () => {
  const from = config({ voters: [1, 2, 3], learners: [4] });
  const before = state(from);
  applyConfChange(from, { changes: [{ op: 'removeNode', nodeId: 1 }] });
  enterJoint(from, true, [{ op: 'addVoter', nodeId: 4 }]);
  assert.deepEqual(state(from), before);
});

test('every invalid change throws InvalidConfChangeError', () => {
  const joint = enterJoint(config({ voters: [1, 2] }), false, [{ op: 'addVoter', nodeId: 3 }]);
  const table: [string, () => unknown, RegExp][] = [
    [
      'node id 0',
      () => simpleChange(config({ voters: [1] }), [{ op: 'addVoter', nodeId: 0 }]),
      /not a positive integer/,
    ],
    [
      'negative id',
      () => simpleChange(config({ voters: [1] }), [{ op: 'addLearner', nodeId: -2 }]),
      /positive integer/,
    ],
    [
      'fractional id',
      () => enterJoint(config({ voters: [1] }), true, [{ op: 'addVoter', nodeId: 1.5 }]),
      /positive/,
    ],
    [
      'remove the last voter',
      () => simpleChange(config({ voters: [1] }), [{ op: 'removeNode', nodeId: 1 }]),
      /every voter/,
    ],
    [
      'joint change removing every voter',
      () =>
        enterJoint(config({ voters: [1, 2] }), true, [
          { op: 'removeNode', nodeId: 1 },
          { op: 'removeNode', nodeId: 2 },
        ]),
      /every voter/,
    ],
    [
      'two voters in a simple change',
      () =>
        simpleChange(config({ voters: [1] }), [
          { op: 'addVoter', nodeId: 2 },
          { op: 'addVoter', nodeId: 3 },
        ]),
      /more than one voter/,
    ],
    [
      'simple change while joint',
      () => applyConfChange(joint, { changes: [{ op: 'addVoter', nodeId: 4 }] }),
      /joint/,
    ],
    [
      'enter joint twice',
      () =>
        applyConfChange(joint, { changes: [{ op: 'addVoter', nodeId: 4 }], transition: 'joint-explicit' }),
      /already/,
    ],
    [
      'enter joint from nothing',
      () => enterJoint(EMPTY_TRACKER_CONFIG, true, [{ op: 'addVoter', nodeId: 1 }]),
      /empty/,
    ],
    [
      'leave when not joint',
      () => applyConfChange(config({ voters: [1] }), { changes: [] }),
      /not in a joint/,
    ],
  ];
  for (const [name, fn, message] of table) {
    assert.throws(fn, (error: unknown) => {
      assert.ok(error instanceof InvalidConfChangeError, name);
      assert.equal(error.code, 'FLOTILLA_INVALID_CONF_CHANGE');
      assert.match(error.message, message, name);
      return true;
    });
  }
});

test('a stored ConfState round-trips through the tracker configuration', () => {
  const cs: ConfState = {
    voters: [1, 2],
    learners: [5],
    votersOutgoing: [1, 2, 3],
    learnersNext: [3],
    autoLeave: true,
  };
  assert.deepEqual(state(configFromConfState(cs)), cs);
});
