export { SdNotifyError } from "./errors.ts";
export { monotonicUsec } from "./libc.ts";
export {
  NotifyListener,
  type NotifyListenerOptions,
  type NotifyMessageCallback,
  type SenderCredentials,
} from "./listener.ts";
export {
  type NotifyProblem,
  type NotifyProblemKind,
  type ParsedNotification,
  parseNotifyDatagram,
} from "./message.ts";
export {
  closeNotifySocket,
  type Environment,
  encodeState,
  MAX_NOTIFY_MESSAGE_SIZE,
  notify,
  notifyReloading,
  startWatchdog,
  watchdogInterval,
} from "./notify.ts";
