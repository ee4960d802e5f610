/**
 * Actor references across processes: the node's actor system talks to the other nodes' over the peer links'
 * `actors` channel (batched per turn with everything else on the link). A link that breaks makes the actors
 * of that node unreachable: their watchers get `Terminated`, asks to them reject with a typed error.
 */
import type { NodeLinks } from '@flotilla/actors';
import type { NodeId, Transport } from '@flotilla/core';
import type { FlotillaNode } from '../cluster/node.ts';

export interface RemoteActors {
  stats(): ReturnType<NodeLinks['stats']>;
}

export function connectRemoteActors(
  node: FlotillaNode,
  transport: Transport,
  options: { readonly linkUp: (peer: NodeId) => boolean },
): RemoteActors {
  const system = node.actors;
  if (system === undefined) throw new TypeError('connect remote actors after the node started');
  const links = system.connectNodes({ send: (to, batch) => transport.sendNode(to, 'actors', batch) });
  node.onActorFrames = (from, payload) => links.receive(from, payload);
  // The transport also reports a link that came back (so Raft retries what was in flight): only a link that
  // is really down means the node's actors are gone.
  node.onPeerUnreachable = (peer) => {
    if (!options.linkUp(peer)) links.nodeDown(peer);
  };
  return { stats: () => links.stats() };
}
