/** @flotilla/storage-lmdb — public entry (work in progress). */
export {};
