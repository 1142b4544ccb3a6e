#pragma once

// The API's serving certificate, read from --api-tls-cert-file and
// --api-tls-private-key-file and re-read when either file changes (as
// cert-manager or a Kubernetes Secret mount rotates them), with no restart
// and without dropping open connections: each TLS handshake takes the
// pair current at that moment.

#include <memory>
#include <mutex>
#include <string>

#include "controller/core/result.h"

typedef struct ssl_ctx_st SSL_CTX;  // NOLINT: OpenSSL's own spelling
typedef struct ssl_st SSL;          // NOLINT

namespace mlspace::apiserver {

struct TlsFiles {
  std::string cert_file;  // PEM: the certificate, then any intermediates
  std::string key_file;   // PEM private key (unencrypted)
  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// Thread-safe. Owns the loaded pair; handshakes on HTTP threads read it.
class CertificateSource {
 public:
  ~CertificateSource();
  CertificateSource(const CertificateSource&) = delete;
  CertificateSource& operator=(const CertificateSource&) = delete;

  // Loads both files. Fails with one line naming the flag and file when one
  // is missing, unreadable, not PEM, or the key does not match the
  // certificate.
  static Result<std::unique_ptr<CertificateSource>> Create(const TlsFiles& files);

  // Re-reads the files if their inode, size or mtime changed since the last
  // load. A pair that does not load (a half-written rotation) is ignored
  // with a WARN line and the previous pair stays in use; the next change is
  // tried again. Returns true when a new pair was installed.
  bool ReloadIfChanged();

  // Installs the newest pair on `ssl` (calls ReloadIfChanged first). For
  // SSL_CTX_set_cert_cb; returns 1 on success, 0 to fail the handshake.
  int UseOn(SSL* ssl);

  // Makes every handshake on `ctx` call UseOn. `this` must outlive `ctx`.
  void Attach(SSL_CTX* ctx);

  // How many pairs were loaded so far (1 after Create).
  int loads() const;

 private:
  struct Pair;
  struct FileStamp {
    unsigned long long ino = 0;
    long long size = -1;
    long long mtime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  explicit CertificateSource(TlsFiles files);
  static Result<std::shared_ptr<Pair>> LoadPair(const TlsFiles& files);
  static FileStamp Stamp(const std::string& path);

  const TlsFiles files_;
  mutable std::mutex mu_;
  std::shared_ptr<Pair> current_;
  FileStamp cert_stamp_;
  FileStamp key_stamp_;
  int loads_ = 0;
};

}  // namespace mlspace::apiserver
