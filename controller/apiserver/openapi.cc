#include "controller/apiserver/openapi.h"

#include <nlohmann/json.hpp>

#include "controller/api/crd.h"
#include "controller/api/types.h"
#include "controller/api/yaml_json.h"

namespace mlspace::apiserver {
namespace {

using nlohmann::json;

constexpr char kObjectMetaRef[] = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
constexpr char kListMetaRef[] = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
constexpr char kJobRef[] = "io.mlspace.v1alpha1.MLSpaceJob";
constexpr char kJobListRef[] = "io.mlspace.v1alpha1.MLSpaceJobList";

json Gvk(const char* kind) {
  return json{{"group", api::kGroup}, {"version", api::kVersion}, {"kind", kind}};
}

json Ref(const std::string& name) { return json{{"$ref", "#/components/schemas/" + name}}; }

json StringMap(const char* description) {
  return json{{"type", "object"},
              {"description", description},
              {"additionalProperties", {{"type", "string"}, {"default", ""}}}};
}

// The ObjectMeta fields this API serves, so `explain mlspacejob.metadata`
// shows them.
json ObjectMetaSchema() {
  return json{
      {"type", "object"},
      {"description",
       "Standard object's metadata: name and namespace from the manifest, the rest set by "
       "the controller."},
      {"properties",
       {{"name", {{"type", "string"}, {"description", "Name, unique within the namespace."}}},
        {"namespace", {{"type", "string"}, {"description", "Namespace of the object."}}},
        {"labels", StringMap("Labels from the manifest; selectable with -l.")},
        {"annotations", StringMap("Annotations from the manifest.")},
        {"uid",
         {{"type", "string"},
          {"description", "Stable id derived from namespace, name and creation time."}}},
        {"resourceVersion",
         {{"type", "string"}, {"description", "Opaque version for watch and optimistic locking."}}},
        {"generation",
         {{"type", "integer"},
          {"format", "int64"},
          {"description", "Increments whenever spec changes (runPolicy.suspend excepted)."}}},
        {"creationTimestamp",
         {{"type", "string"},
          {"format", "date-time"},
          {"description", "When the controller first saw the manifest."}}}}}};
}

json Param(const char* name, const char* in, const char* type, bool required = false) {
  json p{{"name", name}, {"in", in}, {"schema", {{"type", type}, {"uniqueItems", true}}}};
  if (required) p["required"] = true;
  return p;
}

json JsonContent(const std::string& ref) {
  return json{{"application/json", {{"schema", Ref(ref)}}},
              {"application/yaml", {{"schema", Ref(ref)}}}};
}

json Operation(const char* id, const char* description, const std::string& ref) {
  return json{{"description", description},
              {"operationId", id},
              {"responses", {{"200", {{"description", "OK"}, {"content", JsonContent(ref)}}}}},
              {"x-kubernetes-group-version-kind", Gvk(api::kKind)}};
}

Result<std::string> BuildGroupVersion() {
  MLSPACE_ASSIGN_OR_RETURN(json crd, api::internal::YamlToJson(api::CrdYaml()));
  json schema = crd.at(json::json_pointer(api::kCrdSchemaPointer));
  schema["x-kubernetes-group-version-kind"] = json::array({Gvk(api::kKind)});
  schema["properties"]["metadata"] = {{"description", "Standard object's metadata."},
                                      {"default", json::object()},
                                      {"allOf", json::array({Ref(kObjectMetaRef)})}};
  // Server-set fields this API serves beyond the CRD's status.
  schema["properties"]["status"]["properties"]["sourcePath"] = {
      {"type", "string"}, {"description", "Manifest file, relative to the manifests directory."}};

  json list{{"type", "object"},
            {"description", "MLSpaceJobList is a list of MLSpaceJob."},
            {"required", json::array({"items"})},
            {"properties",
             {{"apiVersion", {{"type", "string"}}},
              {"kind", {{"type", "string"}}},
              {"metadata", {{"allOf", json::array({Ref(kListMetaRef)})}}},
              {"items", {{"type", "array"}, {"items", Ref(kJobRef)}}}}},
            {"x-kubernetes-group-version-kind", json::array({Gvk("MLSpaceJobList")})}};
  json list_meta{{"type", "object"},
                 {"properties",
                  {{"resourceVersion", {{"type", "string"}}}, {"continue", {{"type", "string"}}}}}};

  std::string base = std::string("/apis/") + api::kApiVersion;
  std::string plural = api::kPlural;
  json ns_param = Param("namespace", "path", "string", true);
  json name_param = Param("name", "path", "string", true);
  json list_params = json::array(
      {Param("labelSelector", "query", "string"), Param("fieldSelector", "query", "string"),
       Param("resourceVersion", "query", "string"), Param("watch", "query", "boolean"),
       Param("allowWatchBookmarks", "query", "boolean"),
       Param("timeoutSeconds", "query", "integer"), Param("limit", "query", "integer")});

  json list_op =
      Operation("listMLSpaceJob", "list or watch objects of kind MLSpaceJob", kJobListRef);
  list_op["parameters"] = list_params;
  json get_op = Operation("readMLSpaceJob", "read the specified MLSpaceJob", kJobRef);
  // kubectl trusts server-side field validation only when the patch
  // operation names the kind as a single object and takes fieldValidation
  // as an operation-level query parameter.
  json patch_op =
      Operation("patchMLSpaceJob", "partially update the specified MLSpaceJob", kJobRef);
  patch_op["parameters"] = json::array(
      {Param("dryRun", "query", "string"), Param("fieldManager", "query", "string"),
       Param("fieldValidation", "query", "string"), Param("force", "query", "boolean")});
  json write_params =
      json::array({Param("dryRun", "query", "string"), Param("fieldManager", "query", "string"),
                   Param("fieldValidation", "query", "string")});
  json create_op = Operation("createMLSpaceJob", "create an MLSpaceJob", kJobRef);
  create_op["parameters"] = write_params;
  create_op["responses"]["201"] = create_op["responses"]["200"];
  json replace_op = Operation("replaceMLSpaceJob", "replace the specified MLSpaceJob", kJobRef);
  replace_op["parameters"] = write_params;
  json delete_op = Operation("deleteMLSpaceJob", "delete an MLSpaceJob", kJobRef);
  delete_op["parameters"] = json::array({Param("dryRun", "query", "string")});
  json delete_coll_op =
      Operation("deletecollectionMLSpaceJob", "delete a collection of MLSpaceJob", kJobListRef);
  delete_coll_op["parameters"] =
      json::array({Param("dryRun", "query", "string"), Param("labelSelector", "query", "string"),
                   Param("fieldSelector", "query", "string")});
  json status_get =
      Operation("readMLSpaceJobStatus", "read status of the specified MLSpaceJob", kJobRef);

  json paths{
      {base + "/" + plural, {{"get", list_op}}},
      {base + "/namespaces/{namespace}/" + plural,
       {{"get", list_op},
        {"post", create_op},
        {"delete", delete_coll_op},
        {"parameters", json::array({ns_param})}}},
      {base + "/namespaces/{namespace}/" + plural + "/{name}",
       {{"get", get_op},
        {"put", replace_op},
        {"patch", patch_op},
        {"delete", delete_op},
        {"parameters", json::array({ns_param, name_param})}}},
      {base + "/namespaces/{namespace}/" + plural + "/{name}/status",
       {{"get", status_get}, {"parameters", json::array({ns_param, name_param})}}},
  };
  json doc{{"openapi", "3.0.0"},
           {"info", {{"title", "mlspace-operator"}, {"version", api::kVersion}}},
           {"paths", std::move(paths)},
           {"components",
            {{"schemas",
              {{kJobRef, std::move(schema)},
               {kJobListRef, std::move(list)},
               {kObjectMetaRef, ObjectMetaSchema()},
               {kListMetaRef, std::move(list_meta)}}}}}};
  return doc.dump();
}

}  // namespace

const std::string& OpenApiRoot() {
  static const std::string root =
      json{{"paths",
            {{std::string("apis/") + api::kApiVersion,
              {{"serverRelativeURL", std::string("/openapi/v3/apis/") + api::kApiVersion}}}}}}
          .dump();
  return root;
}

Result<const std::string*> OpenApiGroupVersion() {
  static const Result<std::string> doc = BuildGroupVersion();
  if (!doc.ok()) return doc.status().WithContext("OpenAPI from the embedded CRD");
  return &doc.value();
}

}  // namespace mlspace::apiserver
