/**
 * @flotilla/live — live queries built on the node's watches with the public application API: subscriptions
 * registered in the subscriber's user shard with the node that serves them, removed by each shard's reaper
 * when that node dies, and resumed by the client on another node from the last revision it delivered.
 */
export { LIVE_USAGE, type LiveQueriesUsage, runLiveCommand } from './cli.ts';
export {
  type LiveConnection,
  type LiveHandlers,
  LiveQueries,
  LiveSubscription,
  type LiveWatchHandle,
  type SubscribeOptions,
} from './client.ts';
export { liveTab } from './dashboard.ts';
export {
  defineLiveQueries,
  LIVE_PREFIX,
  type LiveQueriesDefinition,
  type LiveQueriesSpec,
  PRESENCE_ACTOR,
  PresenceKind,
  ReaperKind,
} from './define.ts';
export { LIVE_KIND, LiveSubscriptionsMachine } from './machine/subscriptions-machine.ts';
export { LIMITS, LiveQuery, type Presence, type Subscription, SubscriptionId, UserId } from './model.ts';
