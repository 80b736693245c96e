// Telling the server what this console did with an alert (protocol-2 `ack`
// frames, docs/protocol.md): "shown" once it is on a visible page, "rung"
// once its sound really played. The server keeps the earliest of each across
// all the shop's consoles, for the response-time report; each is sent once.

// Seqs remembered per kind; past this the memory starts afresh (a repeat is harmless).
const MAX_REMEMBERED = 5000;

export class Acks {
  /** send(frame) sends a frame on the console's socket and says whether it went. */
  constructor(send) {
    this.send = send;
    this.sent = { shown: new Set(), rung: new Set() };
  }

  /** These alerts are on screen, if the page is. */
  shown(alerts) {
    if (document.visibilityState !== "visible") return;
    for (const alert of alerts) this.one(alert.seq, "shown");
  }

  /** The sound for these alerts has just played. */
  rung(alerts) {
    for (const alert of alerts) this.one(alert.seq, "rung");
  }

  one(seq, what) {
    const sent = this.sent[what];
    if (!Number.isInteger(seq) || seq < 1 || sent.has(seq)) return;
    // Not marked when the socket is down: the next chance sends it.
    if (!this.send({ type: "ack", seq, what })) return;
    if (sent.size >= MAX_REMEMBERED) sent.clear();
    sent.add(seq);
  }
}
