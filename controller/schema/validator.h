#pragma once

// A small JSON-schema validator over nlohmann::json, enough for the two
// schemas the project checks: the Gateway v2 OpenAPI 3.1 request bodies (the
// emulator rejects what the real service rejects) and the CRD's
// openAPIV3Schema (the controller validates manifests).
//
// Supported: type (string or array, e.g. ["string","null"]), OpenAPI 3.0
// `nullable`, required, enum, const, minimum/maximum, exclusiveMinimum/
// exclusiveMaximum (number form of 2020-12 and boolean form of OpenAPI 3.0),
// multipleOf, minLength/maxLength (code points), pattern (ECMAScript, search
// semantics), items, minItems/maxItems, uniqueItems, properties,
// additionalProperties (bool or schema), minProperties/maxProperties,
// anyOf/oneOf/allOf/not, boolean schemas, $ref to a JSON pointer within the
// document ("#/components/schemas/X", "#/definitions/X", "#/$defs/X"), and
// `default` for defaulting. Annotations (title, description, examples,
// format, deprecated) and Kubernetes `x-kubernetes-*` keys are ignored,
// except x-kubernetes-preserve-unknown-fields in strict mode (see
// ValidateOptions).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/core/result.h"
#include "controller/core/status.h"

namespace mlspace::schema {

enum class ErrorKind {
  kType,
  kRequired,
  kEnum,
  kConst,
  kRange,   // minimum, maximum, exclusive*, multipleOf
  kLength,  // minLength, maxLength, minItems, maxItems, min/maxProperties
  kPattern,
  kUnknownField,  // additionalProperties: false, or strict mode
  kComposite,     // anyOf, oneOf, not, false schema
  kUnique,
  kSchema,  // the schema itself is broken (bad $ref, bad pattern, too deep)
};

struct ValidationError {
  ErrorKind kind = ErrorKind::kSchema;
  // Where the error is, dotted with array indexes: "spec.env[1].name".
  // For kRequired and kUnknownField it is the path of the missing or
  // unknown field itself. Empty for the instance root (unless
  // ValidateOptions::root_path is set).
  std::string path;
  // Short and human: "must be >= 1", "is required", "must be one of ...".
  std::string message;

  // "spec.workers: must be >= 1"; for unknown fields kubectl's wording:
  // `unknown field "spec.wrokers"`.
  std::string ToString() const;
  bool operator==(const ValidationError&) const = default;
};

struct ValidateOptions {
  // Prefix of every error path, e.g. "body" → "body.n_workers".
  std::string root_path;
  // Kubernetes structural-schema semantics: an object schema that lists
  // `properties` and says nothing about additionalProperties is closed
  // (unknown fields are errors) unless it carries
  // x-kubernetes-preserve-unknown-fields: true. Plain JSON schema (false)
  // treats such objects as open.
  bool reject_unknown_fields = false;
  // Stop after this many errors (0 = no limit).
  size_t max_errors = 0;
};

// Immutable after Create; copies share the document. Thread-safe.
class Validator {
 public:
  // Takes a schema document (a bare schema, an OpenAPI document, a CRD's
  // openAPIV3Schema, ...). Fails when a local $ref does not resolve or a
  // $ref is not local ("#..."). Patterns are compiled as ECMAScript after
  // rewriting Python's "{,n}" to "{0,n}"; one that still does not compile
  // (Python-only syntax such as lookbehind, found in third-party OpenAPI
  // documents) is not checked and is listed by unsupported_patterns().
  static Result<Validator> Create(nlohmann::json document);

  // Patterns of the document that are skipped (see Create); callers log them.
  const std::vector<std::string>& unsupported_patterns() const;

  // Validates `instance` against the schema at `schema_pointer` (a JSON
  // pointer into the document, with or without the leading '#'; "" = the
  // whole document). Returns every error found (empty = valid). An unknown
  // pointer yields one kSchema error.
  std::vector<ValidationError> Validate(const nlohmann::json& instance,
                                        std::string_view schema_pointer = "") const;
  std::vector<ValidationError> Validate(const nlohmann::json& instance,
                                        std::string_view schema_pointer,
                                        const ValidateOptions& options) const;

  bool IsValid(const nlohmann::json& instance, std::string_view schema_pointer = "") const {
    return Validate(instance, schema_pointer).empty();
  }

  // Fills absent object members that have a `default` in the schema, the
  // way the Kubernetes API server does: recursively, including inside
  // objects that were themselves just defaulted, following properties,
  // items, $ref and allOf. Defaults are copied as they are (not validated).
  // Fails only for an unknown schema_pointer.
  Status ApplyDefaults(nlohmann::json& instance, std::string_view schema_pointer = "") const;

  // The subschema at `schema_pointer`, or NotFound.
  Result<const nlohmann::json*> Find(std::string_view schema_pointer) const;

  const nlohmann::json& document() const;

 private:
  struct Impl;
  explicit Validator(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// "a, b, c" style join of ValidationError::ToString(), for one-line errors.
std::string JoinErrors(const std::vector<ValidationError>& errors, std::string_view sep = "; ");

// The JSON-schema type name of a value ("null", "boolean", "integer",
// "number", "string", "array", "object"), for "must be of type X, got Y".
std::string JsonTypeName(const nlohmann::json& v);

}  // namespace mlspace::schema
