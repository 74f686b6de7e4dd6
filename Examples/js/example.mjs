// A program as a user of `reel serve` would write it, on Node 18 or later with no packages:
//
//   node Examples/js/example.mjs http://127.0.0.1:8080 [TOKEN]
//
// It creates a project, saves images into its scenes, asks for the project's images by scene, clears two scenes for
// regeneration, and follows the live feed: the events it wrote come first, then — once it has caught up — the image it
// saves again into a cleared scene arrives live. It prints what it does and exits 0; anything unexpected exits 1.
// The token (a line `TOKEN read,append` of the service's token file) may also be given as REEL_TOKEN.

import { randomUUID } from "node:crypto";
import { ReelClient } from "./reel.mjs";

const [url, token = process.env.REEL_TOKEN] = process.argv.slice(2);
if (!url) {
  console.error("usage: node example.mjs URL [TOKEN]   (URL: where reel serve answers, e.g. http://127.0.0.1:8080)");
  process.exit(2);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const reel = new ReelClient(url, { token });
const projectId = randomUUID();
const metadata = { actor: "example.mjs", correlation_id: randomUUID() };
const imageURL = (scene, image, take = 1) => `https://cdn.example/${projectId}/${scene}-${image}-take${take}.png`;

// 1. A project, and two images in each of three scenes.
const created = await reel.createProject({ projectId, title: "Lighthouse trailer", metadata });
const firstPosition = created.last_position;
console.log(`created project ${projectId} at position ${firstPosition}`);

let last = firstPosition;
for (const scene of [0, 1, 2]) {
  for (const image of [0, 1]) {
    const saved = await reel.saveSceneImage({ projectId, sceneIndex: scene, imageIndex: image, imageUrl: imageURL(scene, image), metadata });
    last = saved.last_position;
    console.log(`saved scene ${scene} image ${image} at position ${last}`);
  }
}

// 2. The project's images, by scene.
let { scenes } = await reel.imagesByScene(projectId);
for (const { scene_index, image_urls } of scenes) console.log(`scene ${scene_index}: ${image_urls.join(" ")}`);
check(scenes.length === 3 && scenes.every((scene) => scene.image_urls.length === 2), `expected 3 scenes of 2 images, got ${JSON.stringify(scenes)}`);

// 3. Scenes 1 and 2 are regenerated: clear them first.
const cleared = await reel.clearScenes(projectId, [1, 2], { metadata });
last = cleared.last_position;
console.log(`cleared scenes 1 and 2 at position ${last}`);
({ scenes } = await reel.imagesByScene(projectId));
console.log(`left: ${scenes.map((scene) => `scene ${scene.scene_index} (${scene.image_urls.length} images)`).join(", ")}`);
check(scenes.length === 1 && scenes[0].scene_index === 0, `expected only scene 0 after clearing, got ${JSON.stringify(scenes)}`);

// 4. Follow the feed from the project's first event. Once every event written above has come back, save the
//    regenerated image of scene 1 and wait for it to arrive live; then stop.
const stream = `project-${projectId}`;
const abandon = new AbortController();
const timeout = setTimeout(() => abandon.abort(), 30_000);
let regenerated;
let seen = 0;
for await (const event of reel.follow({
  from: firstPosition,
  signal: abandon.signal,
  onReconnect: ({ reason, lastEventId }) => console.log(`connection dropped (${reason}); resuming after ${lastEventId}`),
})) {
  if (event.stream !== stream) continue;
  seen += 1;
  console.log(`followed ${event.position} ${event.type} ${JSON.stringify(event.data)}`);
  if (event.position === last && regenerated === undefined) {
    regenerated = reel.saveSceneImage({ projectId, sceneIndex: 1, imageIndex: 0, imageUrl: imageURL(1, 0, 2), metadata });
    console.log("caught up; saving the regenerated image of scene 1");
    last = (await regenerated).last_position;
  } else if (regenerated !== undefined && event.position === last) {
    console.log(`the regenerated image arrived live at position ${event.position}`);
    break;
  }
}
clearTimeout(timeout);
check(!abandon.signal.aborted, "the feed did not bring back every event within 30 s");
check(seen === 9, `expected 9 events of the project in the feed, saw ${seen}`);

({ scenes } = await reel.imagesByScene(projectId));
console.log(`now: ${scenes.map((scene) => `scene ${scene.scene_index}: ${scene.image_urls.join(" ")}`).join("; ")}`);
console.log(JSON.stringify({ project_id: projectId, events: seen, last_position: last }));
