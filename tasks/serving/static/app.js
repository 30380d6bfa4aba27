// The drawing page: strokes on a white canvas, sent as a PNG to POST /predict while drawing
// (at most one request in flight; the last drawing is always sent). The server does all the
// preprocessing, the same as `mnist-flow predict` on a file. No library, no CDN.
"use strict";

const pad = document.getElementById("pad");
const ink = pad.getContext("2d");
const digitText = document.getElementById("digit");
const messageText = document.getElementById("message");
const bars = document.getElementById("bars");
let drawing = false;
let inFlight = false;
let dirty = false;
let inked = false;

function clearPad() {
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, pad.width, pad.height);
  inked = false;
  digitText.textContent = "?";
  messageText.textContent = "";
  bars.replaceChildren();
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width,
          (event.clientY - box.top) * pad.height / box.height];
}

pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  pad.setPointerCapture(event.pointerId);
  const [x, y] = point(event);
  ink.beginPath();
  ink.moveTo(x, y);
  ink.lineTo(x + 0.1, y);
  ink.stroke();
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const [x, y] = point(event);
  ink.lineTo(x, y);
  ink.stroke();
  inked = true;
  ask();
});

function endStroke() {
  if (!drawing) return;
  drawing = false;
  inked = true;
  ask();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

function ask() {
  dirty = true;
  if (!inFlight) send();
}

async function send() {
  if (!inked) return;
  dirty = false;
  inFlight = true;
  try {
    const png = await new Promise((done) => pad.toBlob(done, "image/png"));
    const response = await fetch("/predict", {method: "POST", body: png,
                                              headers: {"Content-Type": "image/png"}});
    show(await response.json(), response.ok);
  } catch (error) {
    messageText.textContent = "no answer: " + error;
  } finally {
    inFlight = false;
    if (dirty) send();
  }
}

function show(answer, ok) {
  if (!ok) {
    digitText.textContent = "?";
    messageText.textContent = answer.error;
    return;
  }
  if (answer.model) loadModel(answer.model);
  if (answer.digit === null) {
    digitText.textContent = "?";
    messageText.textContent = "no digit found";
    bars.replaceChildren();
    return;
  }
  digitText.textContent = answer.label;
  messageText.textContent = "";
  const top = answer.digit;
  bars.replaceChildren(...answer.probabilities.map((p, i) => {
    const row = document.createElement("li");
    if (i === top) row.className = "top";
    row.innerHTML = '<span class="name"></span><span class="bar"></span><span class="value"></span>';
    row.querySelector(".name").textContent = i;
    row.querySelector(".bar").style.width = (p * 160).toFixed(1) + "px";
    row.querySelector(".value").textContent = p.toFixed(3);
    return row;
  }));
}

let shownModel = null;
async function loadModel(expected) {
  if (expected === shownModel) return;  // the answering model moved: show the new one
  shownModel = expected;
  const response = await fetch("/model");
  const model = await response.json();
  if (!response.ok) {
    document.getElementById("model-id").textContent = model.error;
    return;
  }
  document.getElementById("model-id").textContent = model.model;
  document.getElementById("model-accuracy").textContent = model.accuracy.toFixed(4);
  document.getElementById("model-since").textContent = model.promoted_at;
}

ink.lineWidth = 18;
ink.lineCap = "round";
ink.lineJoin = "round";
ink.strokeStyle = "#000";
document.getElementById("clear").addEventListener("click", clearPad);
clearPad();
loadModel(undefined);
