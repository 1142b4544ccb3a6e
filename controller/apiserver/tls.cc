#include "controller/apiserver/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include "controller/core/log.h"

namespace mlspace::apiserver {
namespace {

struct BioCloser {
  void operator()(BIO* b) const { BIO_free(b); }
};

}  // namespace

struct CertificateSource::Pair {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  STACK_OF(X509) * chain = nullptr;
  ~Pair() {
    X509_free(cert);
    EVP_PKEY_free(key);
    if (chain) sk_X509_pop_free(chain, X509_free);
  }
};

CertificateSource::CertificateSource(TlsFiles files) : files_(std::move(files)) {}

CertificateSource::~CertificateSource() = default;

CertificateSource::FileStamp CertificateSource::Stamp(const std::string& path) {
  struct stat st;
  FileStamp s;
  if (::stat(path.c_str(), &st) != 0) return s;
  s.ino = st.st_ino;
  s.size = st.st_size;
  s.mtime_ns = static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000LL + st.st_mtim.tv_nsec;
  return s;
}

Result<std::shared_ptr<CertificateSource::Pair>> CertificateSource::LoadPair(
    const TlsFiles& files) {
  auto pair = std::make_shared<Pair>();
  const std::string cert_where = "--api-tls-cert-file \"" + files.cert_file + "\": ";
  const std::string key_where = "--api-tls-private-key-file \"" + files.key_file + "\": ";
  ERR_clear_error();
  {
    std::unique_ptr<BIO, BioCloser> bio(BIO_new_file(files.cert_file.c_str(), "r"));
    if (!bio) return InvalidArgumentError(cert_where + "cannot be read");
    pair->cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (!pair->cert) return InvalidArgumentError(cert_where + "no PEM certificate");
    pair->chain = sk_X509_new_null();
    while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      sk_X509_push(pair->chain, extra);
    }
    ERR_clear_error();  // the end of the file reads as an error
  }
  {
    std::unique_ptr<BIO, BioCloser> bio(BIO_new_file(files.key_file.c_str(), "r"));
    if (!bio) return InvalidArgumentError(key_where + "cannot be read");
    pair->key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    if (!pair->key) return InvalidArgumentError(key_where + "no PEM private key");
  }
  if (X509_check_private_key(pair->cert, pair->key) != 1) {
    ERR_clear_error();
    return InvalidArgumentError(key_where + "does not match the certificate in " + files.cert_file);
  }
  return pair;
}

Result<std::unique_ptr<CertificateSource>> CertificateSource::Create(const TlsFiles& files) {
  if (files.cert_file.empty() || files.key_file.empty()) {
    return InvalidArgumentError(
        "--api-tls-cert-file and --api-tls-private-key-file must be given together");
  }
  std::unique_ptr<CertificateSource> src(new CertificateSource(files));
  src->cert_stamp_ = Stamp(files.cert_file);
  src->key_stamp_ = Stamp(files.key_file);
  auto pair = LoadPair(files);
  if (!pair.ok()) return pair.status();
  src->current_ = std::move(pair).value();
  src->loads_ = 1;
  return src;
}

bool CertificateSource::ReloadIfChanged() {
  FileStamp cert = Stamp(files_.cert_file);
  FileStamp key = Stamp(files_.key_file);
  {
    std::lock_guard lock(mu_);
    if (cert == cert_stamp_ && key == key_stamp_) return false;
    // Remember the stamps either way: a broken pair is reported once, and
    // tried again at the next change.
    cert_stamp_ = cert;
    key_stamp_ = key;
  }
  auto pair = LoadPair(files_);
  if (!pair.ok()) {
    LogWarn("API TLS certificate changed but does not load; still serving the previous one",
            {{"error", pair.status().message()}});
    return false;
  }
  std::lock_guard lock(mu_);
  current_ = std::move(pair).value();
  ++loads_;
  LogInfo("API TLS certificate reloaded", {{"certFile", files_.cert_file}});
  return true;
}

int CertificateSource::UseOn(SSL* ssl) {
  ReloadIfChanged();
  std::shared_ptr<Pair> pair;
  {
    std::lock_guard lock(mu_);
    pair = current_;
  }
  // SSL_use_cert_and_key takes its own references, so the pair may be
  // replaced while this connection lives.
  return SSL_use_cert_and_key(ssl, pair->cert, pair->key, pair->chain, /*override=*/1) == 1 ? 1 : 0;
}

void CertificateSource::Attach(SSL_CTX* ctx) {
  SSL_CTX_set_cert_cb(
      ctx, [](SSL* ssl, void* arg) { return static_cast<CertificateSource*>(arg)->UseOn(ssl); },
      this);
}

int CertificateSource::loads() const {
  std::lock_guard lock(mu_);
  return loads_;
}

}  // namespace mlspace::apiserver
