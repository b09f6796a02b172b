"""CompreFace's own Python SDK (compreface-sdk 0.6.0, from PyPI) against
the real facecore server: its recognition, detection and verification flows
on labelled photos, with the answers checked, not only the statuses.

Run by tests/compreface_sdk.rs:
    python compreface_python.py PORT RECOGNITION_KEY DETECTION_KEY VERIFICATION_KEY FACES_DEV_DIR
Prints one line per step; exits non-zero on the first wrong answer.
"""

import csv
import os
import sys
from collections import defaultdict

from compreface import CompreFace

PEOPLE = 5  # identities enrolled
EXAMPLES = 2  # photos enrolled per identity; the next one is held out


def check(ok, what):
    if not ok:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)
    print(f"ok: {what}", flush=True)


def main():
    port, rec_key, det_key, ver_key, data = sys.argv[1:6]
    sdk = CompreFace("http://127.0.0.1", port)
    recognition = sdk.init_face_recognition(rec_key)
    detection = sdk.init_face_detection(det_key)
    verification = sdk.init_face_verification(ver_key)

    photos = defaultdict(list)
    with open(os.path.join(data, "labels.csv"), newline="") as f:
        for row in csv.DictReader(f):
            photos[row["identity"]].append(os.path.join(data, row["path"]))
    chosen = [i for i in sorted(photos) if len(photos[i]) >= EXAMPLES + 2][:PEOPLE]
    check(len(chosen) == PEOPLE, f"{PEOPLE} identities with enough photos")

    subjects = recognition.get_subjects()
    for identity in chosen:
        added = subjects.add(f"person-{identity}")
        check(added.get("subject") == f"person-{identity}", f"subjects.add person-{identity}: {added}")
    listed = recognition.get_subjects().list()
    check(sorted(listed["subjects"]) == sorted(f"person-{i}" for i in chosen), f"subjects.list: {listed}")

    collection = recognition.get_face_collection()
    held_out = {}
    image_ids = []
    for identity in chosen:
        enrolled = 0
        rest = []
        for path in photos[identity]:
            if enrolled == EXAMPLES:
                rest.append(path)
                continue
            answer = recognition.get_face_collection().add(path, f"person-{identity}")
            if "image_id" in answer:
                enrolled += 1
                image_ids.append(answer["image_id"])
            else:
                # A photo with no face or two faces is refused, as CompreFace does.
                check(answer.get("code") in (28, 31), f"add refused with a CompreFace code: {answer}")
        check(enrolled == EXAMPLES, f"{EXAMPLES} examples of person-{identity}")
        held_out[identity] = rest
    listed = collection.list()
    check(listed.get("total_elements") == PEOPLE * EXAMPLES, f"faces.list total: {listed.get('total_elements')}")

    # Held-out photos: the right subject ranks first.
    right = 0
    for identity in chosen:
        for path in held_out[identity][:1]:
            answer = recognition.recognize(
                path,
                {"limit": 0, "prediction_count": 3, "face_plugins": "landmarks,calculator", "status": True},
            )
            result = answer.get("result") or []
            check(bool(result), f"recognize found a face in {os.path.basename(path)}: {answer.get('message', '')}")
            top = result[0]["subjects"][0]
            check(len(result[0]["landmarks"]) == 5 and len(result[0]["embedding"]) == 512, "plugins answered")
            check("plugins_versions" in answer and "execution_time" in result[0], "status answered")
            print(f"  person-{identity}: top {top}", flush=True)
            right += top["subject"] == f"person-{identity}"
    check(right == PEOPLE, f"the right subject first for {right}/{PEOPLE} held-out photos")

    # Verify a held-out photo against an example of the same and of another person.
    same = recognition.get_face_collection().verify(held_out[chosen[0]][0], image_ids[0])
    other = recognition.get_face_collection().verify(held_out[chosen[0]][0], image_ids[-1])
    s_same = same["result"][0]["similarity"]
    s_other = other["result"][0]["similarity"]
    check(s_same > s_other, f"verify: same person {s_same} > other person {s_other}")

    # Detection and verification services.
    # (The SDK refuses `pose` itself: it knows calculator, age, gender,
    # landmarks and mask.)
    detected = detection.detect(
        photos[chosen[1]][0], {"face_plugins": "landmarks,age,gender", "status": True}
    )
    check(len(detected.get("result", [])) >= 1 and "box" in detected["result"][0], f"detect: {detected}")
    face = detected["result"][0]
    check(
        face["gender"]["value"] in ("male", "female")
        and 0.5 <= face["gender"]["probability"] <= 1.0
        and face["age"]["low"] <= face["age"]["high"]
        and all(k in face["execution_time"] for k in ("age", "gender"))
        and "age" in detected["plugins_versions"],
        f"detect with the attribute plugins: {face}",
    )
    verified = verification.verify(photos[chosen[0]][0], held_out[chosen[0]][0], {"status": True})
    matches = verified["result"][0]["face_matches"]
    check(matches and 0.0 <= matches[0]["similarity"] <= 1.0, f"verification.verify: {matches}")

    # A detection key on recognition is refused in CompreFace's shape.
    wrong = CompreFace("http://127.0.0.1", port).init_face_recognition(det_key).get_subjects().list()
    check(wrong.get("code") == 10, f"wrong key type: {wrong}")

    # Rename (the SDK sends an extra field), delete, delete all.
    renamed = recognition.get_subjects().update(f"person-{chosen[0]}", "renamed")
    check(renamed.get("updated") is True, f"subjects.update: {renamed}")
    deleted = recognition.get_face_collection().delete(image_ids[-1])
    check(deleted.get("image_id") == image_ids[-1], f"faces.delete: {deleted}")
    gone = recognition.get_face_collection().delete_all(f"person-{chosen[1]}")
    check(gone.get("deleted") == EXAMPLES, f"faces.delete_all(subject): {gone}")
    removed = recognition.get_subjects().delete("renamed")
    check(removed.get("subject") == "renamed", f"subjects.delete: {removed}")
    cleared = recognition.get_subjects().delete_all()
    check(cleared.get("deleted") == PEOPLE - 2, f"subjects.delete_all: {cleared}")
    check(recognition.get_face_collection().list().get("total_elements") == 0, "nothing left")
    print("all SDK flows passed", flush=True)


if __name__ == "__main__":
    main()
