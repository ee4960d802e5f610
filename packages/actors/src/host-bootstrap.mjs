/**
 * Development entry of a host thread: registers tsx so the worker can import `.ts` sources (Node 20 workers
 * do not inherit tsx's loader), then loads the host task. Built code starts at host-task.js instead.
 */
import { register } from 'tsx/esm/api';

register();
const { default: hostTask } = await import('./host-task.ts');
export default hostTask;
