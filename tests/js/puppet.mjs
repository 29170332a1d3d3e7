// A socket.io client driven over stdin/stdout, for plaza's black-box tests (tests/src/live.rs).
// Usage: node puppet.mjs URL PATH [OPTIONS_JSON]
// stdin, one JSON object per line: {"op":"emit","event":"auth","args":["<jwt>"]} | {"op":"close"}
// stdout, one JSON object per line: {"type":"connect","id":…} | {"type":"connect_error","message":…}
//   | {"type":"disconnect","reason":…} | {"type":"event","event":…,"args":[…]}
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const [url, path, optionsText = "{}"] = process.argv.slice(2);
// `emitOnConnect`: events emitted in the connect callback itself, as the deconf client sends `auth`.
const { emitOnConnect = [], ...options } = JSON.parse(optionsText);
const socket = io(url, { path, reconnectionDelay: 200, reconnectionDelayMax: 1000, ...options });
const out = (message) => process.stdout.write(JSON.stringify(message) + "\n");

socket.on("connect", () => {
  for (const [event, ...args] of emitOnConnect) socket.emit(event, ...args);
  out({ type: "connect", id: socket.id, transport: socket.io.engine.transport.name });
});
socket.on("connect_error", (err) => out({ type: "connect_error", message: err.message }));
socket.on("disconnect", (reason) => out({ type: "disconnect", reason }));
socket.onAny((event, ...args) => out({ type: "event", event, args }));

createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  if (command.op === "emit") socket.emit(command.event, ...command.args);
  if (command.op === "close") {
    socket.close();
    process.exit(0);
  }
});
process.stdin.on("end", () => process.exit(0));
