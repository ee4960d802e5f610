/** @flotilla/actors — public entry (work in progress). */
export {};
