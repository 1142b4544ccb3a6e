// Validates Kubernetes objects against the schemas of the npm packages
// kubernetes-models (Kubernetes) and @kubernetes-models/prometheus-operator
// (monitoring.coreos.com), fetched by scripts/tools.sh.
//
//   NODE_PATH is not used by ESM: run as
//   node validate_objects.mjs NODE_MODULES_DIR < objects.json
// where objects.json is a JSON array of objects. Prints one line per invalid
// object ("Kind/name: message") and exits 1; an apiVersion/kind that neither
// package models is an error too, so nothing passes unchecked.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

const modules = process.argv[2];
if (!modules) {
  console.error("usage: validate_objects.mjs NODE_MODULES_DIR < objects.json");
  process.exit(2);
}
const objects = JSON.parse(readFileSync(0, "utf8"));

function modelPath(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "monitoring.coreos.com") {
    return path.join(modules, "@kubernetes-models/prometheus-operator", group, version, `${kind}.js`);
  }
  return path.join(modules, "kubernetes-models", group || "", version, `${kind}.js`);
}

let failures = 0;
for (const obj of objects) {
  const id = `${obj?.kind}/${obj?.metadata?.name}`;
  try {
    const mod = await import(pathToFileURL(modelPath(obj.apiVersion, obj.kind)).href);
    const Model = mod[obj.kind];
    if (!Model) throw new Error(`no model ${obj.kind} for ${obj.apiVersion}`);
    new Model(obj).validate();
    console.log(`ok ${obj.apiVersion} ${id}`);
  } catch (e) {
    failures++;
    const msg = e.code === "ERR_MODULE_NOT_FOUND" ? `no schema for ${obj.apiVersion} ${obj.kind}` : e.message;
    console.log(`INVALID ${id}: ${msg.split("\n").join("; ")}`);
  }
}
process.exit(failures ? 1 : 0);
