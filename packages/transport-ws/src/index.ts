/** @flotilla/transport-ws — public entry (work in progress). */
export {};
