#include "controller/cli/http_client.h"

#include <Poco/Crypto/X509Certificate.h>
#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/RejectCertificateHandler.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace mlspace::cli {
namespace {

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

class PocoClient : public HttpClient {
 public:
  PocoClient(Poco::URI base, Poco::Net::Context::Ptr context, std::string token,
             std::chrono::milliseconds timeout)
      : base_(std::move(base)),
        context_(std::move(context)),
        token_(std::move(token)),
        timeout_(timeout) {}

  Result<HttpResponse> Do(const HttpRequest& req) override { return Run(req, nullptr, timeout_); }
  Result<HttpResponse> Stream(const HttpRequest& req,
                              const std::function<bool(std::string_view)>& on_data,
                              std::chrono::milliseconds idle_timeout) override {
    return Run(req, &on_data, idle_timeout);
  }

 private:
  std::unique_ptr<Poco::Net::HTTPClientSession> Session() const {
    std::unique_ptr<Poco::Net::HTTPClientSession> s;
    if (context_) {
      s = std::make_unique<Poco::Net::HTTPSClientSession>(base_.getHost(), base_.getPort(),
                                                          context_);
    } else {
      s = std::make_unique<Poco::Net::HTTPClientSession>(base_.getHost(), base_.getPort());
    }
    return s;
  }

  Result<HttpResponse> Run(const HttpRequest& req,
                           const std::function<bool(std::string_view)>* on_data,
                           std::chrono::milliseconds read_timeout) {
    std::string where = req.method + " " + base_.toString() + req.path;
    try {
      auto session = Session();
      // Poco has no "no timeout": a day stands for it on streams.
      auto rt = read_timeout.count() > 0 ? read_timeout : std::chrono::hours(24);
      auto span = [](auto d) {
        return Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
      };
      session->setTimeout(span(timeout_), span(timeout_), span(rt));
      Poco::Net::HTTPRequest hr(req.method, base_.getPath() + req.path,
                                Poco::Net::HTTPMessage::HTTP_1_1);
      hr.set("User-Agent", "mlspacectl");
      if (!token_.empty()) hr.set("Authorization", "Bearer " + token_);
      for (const auto& [k, v] : req.headers) hr.set(k, v);
      if (!req.body.empty() || req.method == "POST" || req.method == "PUT" ||
          req.method == "PATCH") {
        hr.setContentLength(static_cast<std::streamsize>(req.body.size()));
      }
      std::ostream& os = session->sendRequest(hr);
      os << req.body;
      Poco::Net::HTTPResponse resp;
      std::istream& is = session->receiveResponse(resp);
      HttpResponse out;
      out.status = static_cast<int>(resp.getStatus());
      out.content_type = resp.getContentType();
      for (const auto& [k, v] : resp) {
        std::string lk = k;
        std::transform(lk.begin(), lk.end(), lk.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        out.headers[lk] = v;
      }
      if (!on_data || out.status < 200 || out.status > 299) {
        std::ostringstream body;
        Poco::StreamCopier::copyStream(is, body);
        out.body = body.str();
        return out;
      }
      char buf[8192];
      while (is) {
        is.read(buf, 1);  // block for the first byte, then take what is buffered
        std::streamsize n = is.gcount();
        if (n <= 0) break;
        std::streamsize more = is.rdbuf()->in_avail();
        if (more > 0) {
          is.read(buf + 1, std::min<std::streamsize>(more, sizeof(buf) - 1));
          n += is.gcount();
        }
        if (!(*on_data)(std::string_view(buf, static_cast<size_t>(n)))) break;
      }
      return out;
    } catch (const Poco::TimeoutException&) {
      return DeadlineExceededError(where + ": timed out");
    } catch (const Poco::Exception& e) {
      return UnavailableError(where + ": " + e.displayText());
    } catch (const std::exception& e) {
      return UnavailableError(where + ": " + e.what());
    }
  }

  Poco::URI base_;
  Poco::Net::Context::Ptr context_;
  std::string token_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

std::string QueryEscape(std::string_view v) {
  std::string out;
  Poco::URI::encode(std::string(v), "!#$&'()*+,/:;=?@[]", out);
  return out;
}

Result<std::unique_ptr<HttpClient>> NewHttpClient(const Connection& conn,
                                                  std::chrono::milliseconds timeout) {
  Poco::URI base;
  try {
    base = Poco::URI(conn.server);
  } catch (const Poco::Exception& e) {
    return InvalidArgumentError("server \"" + conn.server + "\": " + e.displayText());
  }
  Poco::Net::Context::Ptr context;
  if (base.getScheme() == "https") {
    try {
      auto mode = conn.insecure_skip_tls_verify ? Poco::Net::Context::VERIFY_NONE
                                                : Poco::Net::Context::VERIFY_RELAXED;
      Poco::Net::Context::Params params;
      params.verificationMode = mode;
      params.loadDefaultCAs = conn.ca_file.empty() && conn.ca_pem.empty();
      params.caLocation = conn.ca_file;
      context = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
      context->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
      if (!conn.ca_pem.empty()) {
        std::istringstream in(conn.ca_pem);
        Poco::Crypto::X509Certificate ca(in);
        context->addCertificateAuthority(ca);
      }
      // Without this Poco asks the SSLManager's default handler, which
      // reads an application configuration mlspacectl does not have.
      Poco::SharedPtr<Poco::Net::InvalidCertificateHandler> reject =
          new Poco::Net::RejectCertificateHandler(false);
      Poco::Net::SSLManager::instance().initializeClient(nullptr, reject, context);
    } catch (const Poco::Exception& e) {
      std::string what = !conn.ca_file.empty() ? "certificate authority " + conn.ca_file
                                               : std::string("TLS setup");
      return InvalidArgumentError(what + ": " + e.displayText());
    }
  } else if (!conn.token.empty() && !IsLoopback(base.getHost())) {
    return InvalidArgumentError("refusing to send a token over plain http to " + base.getHost() +
                                ": use an https:// server");
  }
  return std::unique_ptr<HttpClient>(
      std::make_unique<PocoClient>(base, context, conn.token, timeout));
}

}  // namespace mlspace::cli
