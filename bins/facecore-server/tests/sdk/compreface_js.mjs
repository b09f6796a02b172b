// CompreFace's official JavaScript SDK (@exadel/compreface-js-sdk 1.0.0,
// from npm) against the real facecore server, in Node: base64 uploads (JSON
// {"file": ...}), recognition, bulk delete by POST .../faces/delete, the
// detection and verification services. The answers are checked.
//
// Run by tests/compreface_sdk.rs:
//   node compreface_js.mjs SDK_DIR PORT RECOGNITION_KEY DETECTION_KEY VERIFICATION_KEY FACES_DEV_DIR
// The SDK's collection and subject objects keep a URL they append to on
// each call, so every call takes a fresh one (as its own examples do).

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [sdkDir, port, recKey, detKey, verKey, data] = process.argv.slice(2);
const { CompreFace } = await import(pathToFileURL(path.join(sdkDir, 'index.js')).href);

function check(ok, what) {
  if (!ok) {
    console.log(`FAIL: ${what}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
}

const b64 = (p) => fs.readFileSync(p).toString('base64');
const sdk = new CompreFace('http://127.0.0.1', port);
const recognition = sdk.initFaceRecognitionService(recKey);
const detection = sdk.initFaceDetectionService(detKey);
const verification = sdk.initFaceVerificationService(verKey);

// Three people, two photos each enrolled, the next one held out.
const photos = new Map();
for (const line of fs.readFileSync(path.join(data, 'labels.csv'), 'utf8').split('\n').slice(1)) {
  const [file, identity] = line.trim().split(',');
  if (!identity) continue;
  if (!photos.has(identity)) photos.set(identity, []);
  photos.get(identity).push(path.join(data, file));
}
const chosen = [...photos.keys()].sort().filter((i) => photos.get(i).length >= 4).slice(-3);
check(chosen.length === 3, 'three identities with enough photos');

const ids = [];
const heldOut = new Map();
for (const identity of chosen) {
  let enrolled = 0;
  const rest = [];
  for (const p of photos.get(identity)) {
    if (enrolled === 2) { rest.push(p); continue; }
    try {
      const added = await recognition.getFaceCollection().add(b64(p), `js-${identity}`);
      check(typeof added.image_id === 'string', `add ${path.basename(p)} as js-${identity}`);
      ids.push(added.image_id);
      enrolled += 1;
    } catch (e) {
      const code = e.response?.data?.code;
      check(code === 28 || code === 31, `add refused with a CompreFace code (${code})`);
    }
  }
  heldOut.set(identity, rest);
}
const subjects = await recognition.getSubjects().list();
check(subjects.subjects.length === 3, `subjects: ${JSON.stringify(subjects)}`);
const listed = await recognition.getFaceCollection().list();
check(listed.total_elements === 6, `examples: ${listed.total_elements}`);

let right = 0;
for (const identity of chosen) {
  const answer = await recognition.recognize(b64(heldOut.get(identity)[0]), {
    limit: 0, prediction_count: 1, face_plugins: 'calculator', status: 'true',
  });
  const top = answer.result[0].subjects[0];
  console.log(`  js-${identity}: ${JSON.stringify(top)}`);
  check(answer.result[0].embedding.length === 512, 'calculator answered');
  right += top.subject === `js-${identity}` ? 1 : 0;
}
check(right === 3, `the right subject first for ${right}/3 held-out photos`);

const detected = await detection.detect(b64(photos.get(chosen[0])[0]), { limit: 0 });
check(detected.result.length >= 1 && detected.result[0].box, 'detect');
const verified = await verification.verify(
  b64(photos.get(chosen[0])[0]), b64(heldOut.get(chosen[0])[0]), { limit: 0 });
const sim = verified.result[0].face_matches[0].similarity;
check(sim > 0.5, `verification of the same person: ${sim}`);

try {
  await sdk.initFaceRecognitionService(detKey).getSubjects().list();
  check(false, 'a detection key on recognition must be refused');
} catch (e) {
  check(e.response?.status === 404 && e.response.data.code === 10, 'wrong key type: 404/10');
}

const bulk = await recognition.getFaceCollection().delete_multiple_images([ids[0], ids[1], 'face_unknown']);
check(Array.isArray(bulk) && bulk.length === 2, `bulk delete: ${JSON.stringify(bulk)}`);
const renamed = await recognition.getSubjects().rename(`js-${chosen[1]}`, 'renamed');
check(renamed.updated === true, 'rename');
const cleared = await recognition.getSubjects().deleteAll();
check(cleared.deleted === 3, `delete all subjects: ${JSON.stringify(cleared)}`);
const empty = await recognition.getFaceCollection().list();
check(empty.total_elements === 0, 'nothing left');
console.log('all SDK flows passed');
