// A small client of `reel serve` for Node 18 or later (its built-in fetch), in plain JavaScript with no packages.
//
//   import { ReelClient } from "./reel.mjs";
//   const reel = new ReelClient("http://127.0.0.1:8080", { token: process.env.REEL_TOKEN });
//   await reel.createProject({ projectId, title: "Lighthouse trailer" });
//   await reel.saveSceneImage({ projectId, sceneIndex: 0, imageIndex: 0, imageUrl: "https://cdn.example/0-0.png" });
//   const { scenes } = await reel.imagesByScene(projectId);
//   for await (const event of reel.follow({ from: 1 })) console.log(event.position, event.type);
//
// Every event this client writes carries an id of its own, so sending it again after a lost answer is a no-op (the
// service counts it as a duplicate) rather than a second event.

import { randomUUID } from "node:crypto";

/// An answer of the service other than success: its HTTP status and its JSON body ({"error": …}, and for a rejected
/// append what `reel append` prints).
export class ReelError extends Error {
  constructor(status, body, what) {
    super(`${what}: HTTP ${status}: ${body && typeof body === "object" && body.error ? body.error : JSON.stringify(body)}`);
    this.name = "ReelError";
    this.status = status;
    this.body = body;
  }
}

export class ReelClient {
  /// `baseURL`: where `reel serve` answers (`http://127.0.0.1:8080`). `token`: a bearer token of its token file, or
  /// nothing for a service without one.
  constructor(baseURL, { token } = {}) {
    this.baseURL = String(baseURL).replace(/\/+$/, "");
    this.token = token || undefined;
  }

  headers(extra = {}) {
    return this.token ? { authorization: `Bearer ${this.token}`, ...extra } : { ...extra };
  }

  async request(method, path, { body, contentType, what } = {}) {
    const response = await fetch(this.baseURL + path, {
      method,
      headers: this.headers(contentType ? { "content-type": contentType } : {}),
      body,
    });
    const text = await response.text();
    let parsed = text;
    if ((response.headers.get("content-type") || "").startsWith("application/json")) {
      try {
        parsed = JSON.parse(text);
      } catch {
        // Left as text: the error below shows it.
      }
    }
    if (!response.ok) throw new ReelError(response.status, parsed, what || `${method} ${path}`);
    return parsed;
  }

  // MARK: Appending

  /// Appends input lines, as `reel append` takes them: objects `{type, data, id?, expected_version?, metadata?}` or
  /// NDJSON strings. Each line stands alone unless `allOrNothing`. Returns what the service answers —
  /// `{appended, duplicates, rejected, last_position, rejections: [{line, status, reason}]}` — and throws a
  /// `ReelError` when it refuses the whole body (a one-line body whose line is rejected, or any line of an
  /// all-or-nothing body).
  async appendLines(lines, { allOrNothing = false } = {}) {
    const body = lines.map((line) => (typeof line === "string" ? line : JSON.stringify(line)) + "\n").join("");
    const query = allOrNothing ? "?all_or_nothing=true" : "";
    return this.request("POST", `/v1/events${query}`, { body, contentType: "application/x-ndjson", what: "append" });
  }

  /// Appends one event, with an id of its own unless given; returns the service's summary.
  async appendEvent(type, data, { id = randomUUID(), metadata } = {}) {
    const line = { type, data, id };
    if (metadata) line.metadata = metadata;
    return this.appendLines([line]);
  }

  /// `project.created`. Returns the summary; its `last_position` is the event's position.
  async createProject({ projectId, title, userId, metadata }) {
    const data = { project_id: projectId };
    if (userId) data.user_id = userId;
    if (title) data.title = title;
    return this.appendEvent("project.created", data, { metadata });
  }

  /// `scene_image.saved`: the image at `imageIndex` (0 when left out) of scene `sceneIndex`, replacing the one there.
  async saveSceneImage({ projectId, sceneIndex, imageIndex = 0, imageUrl, metadata }) {
    return this.appendEvent(
      "scene_image.saved",
      { project_id: projectId, scene_index: sceneIndex, image_index: imageIndex, image_url: imageUrl },
      { metadata },
    );
  }

  /// `scene_images.cleared`: removes the images of the scenes given, or of every scene when `sceneIndexes` is empty.
  async clearScenes(projectId, sceneIndexes = [], { metadata } = {}) {
    return this.appendEvent("scene_images.cleared", { project_id: projectId, scene_indexes: sceneIndexes }, { metadata });
  }

  // MARK: Reading

  /// One query of `reel query` (docs/QUERIES.md), its options as an object: `query("jobs", {status: "pending"})`.
  async query(name, options = {}) {
    const parameters = new URLSearchParams(Object.entries(options).filter(([, value]) => value !== undefined));
    const suffix = [...parameters].length ? `?${parameters}` : "";
    return this.request("GET", `/v1/queries/${encodeURIComponent(name)}${suffix}`, { what: `query ${name}` });
  }

  /// A project's image URLs by scene: `{project_id, scenes: [{scene_index, image_urls}]}`.
  async imagesByScene(projectId) {
    return this.query("images-by-scene", { project: projectId });
  }

  /// Stored events as envelopes, as `reel read` prints them.
  async readEvents({ from, stream, type, limit } = {}) {
    const parameters = new URLSearchParams(Object.entries({ from, stream, type, limit }).filter(([, value]) => value !== undefined));
    const suffix = [...parameters].length ? `?${parameters}` : "";
    const text = await this.request("GET", `/v1/events${suffix}`, { what: "read" });
    return text.split("\n").filter((line) => line.length > 0).map((line) => JSON.parse(line));
  }

  /// `{status: "ready", head}` once the service is ready.
  async health() {
    return this.request("GET", "/health");
  }

  // MARK: Following

  /// Every event from position `from` on, then each new one as it is committed: an async iterator over the
  /// Server-Sent Events of `/v1/subscribe`. Each value is the event's envelope (`{position, stream, version, id, type,
  /// recorded_at, data, metadata, hash}`).
  ///
  /// When the connection drops (the network, a restart of the service, or an `end` event), it connects again after
  /// `retryDelay` ms (or what the service's `retry:` field says) and resumes after the last event it yielded, with
  /// `Last-Event-ID`: no event is skipped or yielded twice. It gives up, throwing, after `retries` attempts in a row
  /// that failed to connect; a refusal that another attempt would not change (a bad token: 401, 403; a bad request:
  /// 400) throws at once. Leaving the loop (`break`) or aborting `signal` closes the connection.
  async *follow({ from = 1, lastEventId, retries = 10, retryDelay = 500, signal, onReconnect } = {}) {
    let last = lastEventId === undefined ? undefined : String(lastEventId);
    let delay = retryDelay;
    let failures = 0;
    while (true) {
      if (signal?.aborted) return;
      const controller = new AbortController();
      const abort = () => controller.abort();
      signal?.addEventListener("abort", abort, { once: true });
      let reason;
      try {
        const headers = this.headers({ accept: "text/event-stream" });
        if (last !== undefined) headers["last-event-id"] = last;
        const response = await fetch(`${this.baseURL}/v1/subscribe?from=${from}`, { headers, signal: controller.signal });
        if (!response.ok) {
          const text = await response.text();
          let body = text;
          try {
            body = JSON.parse(text);
          } catch {
            // Left as text.
          }
          if ([400, 401, 403, 404].includes(response.status)) throw new ReelError(response.status, body, "subscribe");
          reason = `HTTP ${response.status}`;
        } else {
          failures = 0;
          for await (const message of serverSentEvents(response.body)) {
            if (message.retry !== undefined) delay = message.retry;
            if (message.event === "end") {
              reason = `the service ended the subscription: ${message.data}`;
              break;
            }
            if (message.event !== "event" && message.event !== "message") continue;
            const envelope = JSON.parse(message.data);
            if (message.id !== undefined) last = message.id;
            yield envelope;
          }
          reason ??= "the connection closed";
        }
      } catch (error) {
        if (error instanceof ReelError) throw error;
        if (signal?.aborted) return;
        reason = error?.cause?.code || error?.message || String(error);
      } finally {
        signal?.removeEventListener("abort", abort);
        controller.abort();
      }
      failures += 1;
      if (failures > retries) throw new Error(`subscribe: gave up after ${retries} attempts to reconnect (${reason})`);
      onReconnect?.({ reason, lastEventId: last, attempt: failures });
      await sleep(delay, signal);
    }
  }
}

/// The messages of a `text/event-stream` body (the WHATWG rules): `{id, event, data, retry}` for each one, `event`
/// "message" when the stream names none. Comments (`: heartbeat`) are skipped.
export async function* serverSentEvents(body) {
  const decoder = new TextDecoder();
  let buffer = "";
  let message = { data: [] };
  let id;
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      // A lone \r at the end of the buffer may be the first half of \r\n: wait for more.
      if (buffer[newline] === "\r" && newline === buffer.length - 1) break;
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        if (message.data.length > 0) {
          yield { id, event: message.event || "message", data: message.data.join("\n"), retry: message.retry };
        }
        message = { data: [] };
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      switch (field) {
        case "data":
          message.data.push(value);
          break;
        case "event":
          message.event = value;
          break;
        case "id":
          if (!value.includes("\0")) id = value;
          break;
        case "retry":
          if (/^\d+$/.test(value)) message.retry = Number(value);
          break;
        default:
          break;
      }
    }
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
