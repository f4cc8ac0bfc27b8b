#include "identity_keys.h"

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>
#include <unicode/translit.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <array>
#include <memory>
#include <mutex>

#include "hashing.h"

namespace crmsync::server::identity {

namespace {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::vector<std::string> Tokens(const std::string& folded) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < folded.size()) {
    size_t j = folded.find(' ', i);
    if (j == std::string::npos) j = folded.size();
    if (j > i) out.push_back(folded.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& tokens) {
  std::string out;
  for (const std::string& t : tokens) {
    if (!out.empty()) out += ' ';
    out += t;
  }
  return out;
}

// ICU transliterators are not thread-safe: one per thread, cloned from a
// prototype built once.
const icu::Transliterator* Prototype() {
  static const icu::Transliterator* proto = [] {
    UErrorCode status = U_ZERO_ERROR;
    icu::Transliterator* t = icu::Transliterator::createInstance(
        icu::UnicodeString::fromUTF8("Latin-ASCII; Lower"), UTRANS_FORWARD, status);
    return U_SUCCESS(status) ? t : nullptr;
  }();
  return proto;
}

std::string Transliterate(std::string_view text) {
  // Plain ASCII needs no transliteration (most names): lower-case it here,
  // ICU costs microseconds per call.
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return AsciiLower(text);
  }
  thread_local std::unique_ptr<icu::Transliterator> mine;
  if (!mine) {
    const icu::Transliterator* proto = Prototype();
    if (proto == nullptr) return AsciiLower(text);
    mine.reset(proto->clone());
  }
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  mine->transliterate(u);
  std::string out;
  u.toUTF8String(out);
  return out;
}

constexpr std::array<std::string_view, 40> kLegalForms = {
    "inc", "incorporated", "llc", "llp", "ltd",  "limited", "corp", "corporation", "co",  "company",
    "plc", "gmbh",         "ag",  "kg",  "ug",   "sa",      "sas",  "sarl",        "srl", "spa",
    "bv",  "nv",           "oy",  "ab",  "as",   "asa",     "aps",  "pty",         "kk",  "sl",
    "sau", "se",           "lp",  "pc",  "pllc", "ohg",     "eurl", "sasu",        "the", "cie"};

bool IsLegalForm(const std::string& token) {
  return std::find(kLegalForms.begin(), kLegalForms.end(), token) != kLegalForms.end();
}

constexpr std::array<std::pair<std::string_view, std::string_view>, 14> kStreetWords = {{
    {"street", "st"},
    {"avenue", "ave"},
    {"av", "ave"},
    {"road", "rd"},
    {"boulevard", "blvd"},
    {"drive", "dr"},
    {"lane", "ln"},
    {"place", "pl"},
    {"court", "ct"},
    {"square", "sq"},
    {"highway", "hwy"},
    {"strasse", "str"},
    {"north", "n"},
    {"south", "s"},
}};

// The folded form of "a.b.c" acronyms is "a b c": joins runs of one-letter
// tokens ("s a r l" -> "sarl", "i b m" -> "ibm").
std::vector<std::string> JoinInitials(const std::vector<std::string>& tokens) {
  std::vector<std::string> out;
  std::string run;
  for (const std::string& t : tokens) {
    if (t.size() == 1) {
      run += t;
      continue;
    }
    if (!run.empty()) out.push_back(std::move(run)), run.clear();
    out.push_back(t);
  }
  if (!run.empty()) out.push_back(std::move(run));
  return out;
}

void AddUnique(std::vector<std::string>* out, std::string value) {
  if (value.empty()) return;
  if (std::find(out->begin(), out->end(), value) == out->end()) out->push_back(std::move(value));
}

bool Shares(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (const std::string& x : a) {
    if (std::find(b.begin(), b.end(), x) != b.end()) return true;
  }
  return false;
}

}  // namespace

std::string NormalizeEmail(std::string_view email) {
  std::string e = AsciiLower(Trim(email));
  const size_t at = e.find('@');
  if (at == std::string::npos || at == 0 || at + 1 >= e.size() ||
      e.find('@', at + 1) != std::string::npos || e.find(' ') != std::string::npos) {
    return "";
  }
  std::string local = e.substr(0, at);
  std::string domain = e.substr(at + 1);
  if (domain.find('.') == std::string::npos) return "";
  const bool gmail = domain == "gmail.com" || domain == "googlemail.com";
  static constexpr std::array<std::string_view, 9> kPlusDomains = {
      "outlook.com",  "hotmail.com",    "live.com",  "icloud.com", "me.com",
      "fastmail.com", "protonmail.com", "proton.me", "pm.me"};
  const bool plus =
      gmail || std::find(kPlusDomains.begin(), kPlusDomains.end(), domain) != kPlusDomains.end();
  if (plus) {
    const size_t tag = local.find('+');
    if (tag != std::string::npos && tag > 0) local.resize(tag);
  }
  if (gmail) {
    local.erase(std::remove(local.begin(), local.end(), '.'), local.end());
    domain = "gmail.com";
  }
  if (local.empty()) return "";
  return local + "@" + domain;
}

std::string NormalizePhone(std::string_view phone, std::string_view region) {
  const std::string_view trimmed = Trim(phone);
  if (trimmed.empty() || trimmed.size() > 64) return "";
  const PhoneNumberUtil* util = PhoneNumberUtil::GetInstance();
  PhoneNumber number;
  std::string upper_region(region);
  for (char& c : upper_region) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  if (util->Parse(std::string(trimmed), upper_region, &number) !=
      PhoneNumberUtil::NO_PARSING_ERROR) {
    return "";
  }
  if (!util->IsPossibleNumber(number)) return "";
  std::string out;
  util->Format(number, PhoneNumberUtil::E164, &out);
  return out;
}

std::string FoldText(std::string_view text) {
  const std::string lowered = Transliterate(text);
  std::string out;
  out.reserve(lowered.size());
  bool space = false;
  for (unsigned char c : lowered) {
    const bool keep = c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!keep) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(c);
  }
  return out;
}

std::string PersonName(std::string_view first, std::string_view last) {
  std::vector<std::string> tokens = Tokens(FoldText(first));
  for (std::string& t : Tokens(FoldText(last))) tokens.push_back(std::move(t));
  std::sort(tokens.begin(), tokens.end());
  return Join(tokens);
}

std::string CompanyName(std::string_view name) {
  const std::vector<std::string> tokens = JoinInitials(Tokens(FoldText(name)));
  std::vector<std::string> kept;
  for (const std::string& t : tokens) {
    if (!IsLegalForm(t)) kept.push_back(t);
  }
  // A name that is only a legal form ("The Company") keeps its words.
  return Join(kept.empty() ? tokens : kept);
}

std::string WebsiteHost(std::string_view url) {
  std::string u = AsciiLower(Trim(url));
  const size_t scheme = u.find("://");
  if (scheme != std::string::npos) u.erase(0, scheme + 3);
  const size_t end = u.find_first_of("/:?#");
  if (end != std::string::npos) u.resize(end);
  if (u.rfind("www.", 0) == 0) u.erase(0, 4);
  if (u.find('.') == std::string::npos || u.find(' ') != std::string::npos) return "";
  return u;
}

std::string PostalAddress(const v1::Address& address) {
  std::vector<std::string> street = Tokens(FoldText(address.street()));
  if (street.empty()) return "";
  for (std::string& t : street) {
    for (const auto& [word, abbreviation] : kStreetWords) {
      if (t == word) {
        t = abbreviation;
        break;
      }
    }
  }
  std::string place = FoldText(address.postal_code());
  place.erase(std::remove(place.begin(), place.end(), ' '), place.end());
  if (place.empty()) place = FoldText(address.city());
  if (place.empty()) return "";
  return Join(street) + "|" + place + "|" + AsciiLower(Trim(address.country_code()));
}

double JaroWinkler(std::string_view a, std::string_view b) {
  if (a.empty() && b.empty()) return 1.0;
  if (a.empty() || b.empty()) return 0.0;
  if (a == b) return 1.0;
  const int la = static_cast<int>(a.size());
  const int lb = static_cast<int>(b.size());
  const int window = std::max(0, std::max(la, lb) / 2 - 1);
  std::vector<bool> used_a(la, false);
  std::vector<bool> used_b(lb, false);
  int matches = 0;
  for (int i = 0; i < la; ++i) {
    const int lo = std::max(0, i - window);
    const int hi = std::min(lb - 1, i + window);
    for (int j = lo; j <= hi; ++j) {
      if (used_b[j] || a[i] != b[j]) continue;
      used_a[i] = used_b[j] = true;
      ++matches;
      break;
    }
  }
  if (matches == 0) return 0.0;
  int transpositions = 0;
  for (int i = 0, j = 0; i < la; ++i) {
    if (!used_a[i]) continue;
    while (!used_b[j]) ++j;
    if (a[i] != b[j]) ++transpositions;
    ++j;
  }
  const double m = matches;
  const double jaro = (m / la + m / lb + (m - transpositions / 2.0) / m) / 3.0;
  int prefix = 0;
  while (prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix]) ++prefix;
  return jaro + prefix * 0.1 * (1.0 - jaro);
}

bool Identity::operator==(const Identity& other) const {
  return type == other.type && emails == other.emails && phones == other.phones &&
         name == other.name && name_block == other.name_block && company == other.company &&
         website == other.website && address == other.address;
}

bool Identity::empty() const {
  return emails.empty() && phones.empty() && name.empty() && website.empty();
}

bool SameIdentityFields(const v1::Record& a, const v1::Record& b) {
  if (a.entity_case() != b.entity_case()) return false;
  auto same_address = [](const v1::Address& x, const v1::Address& y) {
    return x.street() == y.street() && x.city() == y.city() && x.postal_code() == y.postal_code() &&
           x.country_code() == y.country_code();
  };
  switch (a.entity_case()) {
    case v1::Record::kLead: {
      const v1::Lead& x = a.lead();
      const v1::Lead& y = b.lead();
      return x.email() == y.email() && x.phone() == y.phone() && x.first_name() == y.first_name() &&
             x.last_name() == y.last_name() && x.company() == y.company() &&
             same_address(x.address(), y.address());
    }
    case v1::Record::kContact: {
      const v1::Contact& x = a.contact();
      const v1::Contact& y = b.contact();
      return x.email() == y.email() && x.phone() == y.phone() && x.mobile() == y.mobile() &&
             x.first_name() == y.first_name() && x.last_name() == y.last_name() &&
             same_address(x.address(), y.address());
    }
    case v1::Record::kAccount: {
      const v1::Account& x = a.account();
      const v1::Account& y = b.account();
      return x.name() == y.name() && x.phone() == y.phone() && x.website() == y.website() &&
             same_address(x.billing_address(), y.billing_address());
    }
    default: return true;
  }
}

bool IsPersonType(v1::EntityType type) {
  return type == v1::ENTITY_TYPE_LEAD || type == v1::ENTITY_TYPE_CONTACT;
}

bool HasIdentity(v1::EntityType type) {
  return IsPersonType(type) || type == v1::ENTITY_TYPE_ACCOUNT;
}

namespace {

std::string RegionOf(const v1::Address& address, const DuplicateOptions& options) {
  return address.country_code().size() == 2 ? address.country_code() : options.default_region;
}

void PersonIdentity(std::string_view first, std::string_view last, Identity* id) {
  id->name = PersonName(first, last);
  const std::string folded_last = Join(Tokens(FoldText(last)));
  const std::string folded_first = FoldText(first);
  if (!folded_last.empty() && !folded_first.empty()) {
    id->name_block = folded_last + " " + folded_first.substr(0, 1);
  }
}

}  // namespace

namespace {

// The last digits of a written phone number, before any extension.
std::string TrailingDigits(std::string_view phone, size_t n) {
  std::string digits;
  for (char c : phone) {
    if (c == 'x' || c == 'X' || c == '#' || c == 'e' || c == 'E') break;  // ext., x12, #3
    if (c >= '0' && c <= '9') digits += c;
  }
  return digits.size() <= n ? digits : digits.substr(digits.size() - n);
}

// Whether `phone` may normalise to one of `against`'s numbers: E.164 ends
// with the subscriber's digits, so a number whose last digits differ from
// all of them cannot (libphonenumber is only asked about the rest).
bool MayMatch(std::string_view phone, const Identity* against) {
  if (against == nullptr) return true;
  constexpr size_t kTail = 6;
  const std::string tail = TrailingDigits(phone, kTail);
  for (const std::string& p : against->phones) {
    if (p.size() >= kTail && p.compare(p.size() - kTail, kTail, tail) == 0) return true;
  }
  return false;
}

void AddPhone(std::vector<std::string>* out, std::string_view phone, std::string_view region,
              const Identity* against) {
  if (phone.empty() || !MayMatch(phone, against)) return;
  AddUnique(out, NormalizePhone(phone, region));
}

}  // namespace

Identity IdentityOf(const v1::Record& record, const DuplicateOptions& options,
                    const Identity* against) {
  Identity id;
  switch (record.entity_case()) {
    case v1::Record::kLead: {
      const v1::Lead& l = record.lead();
      id.type = v1::ENTITY_TYPE_LEAD;
      AddUnique(&id.emails, NormalizeEmail(l.email()));
      AddPhone(&id.phones, l.phone(), RegionOf(l.address(), options), against);
      PersonIdentity(l.first_name(), l.last_name(), &id);
      id.company = CompanyName(l.company());
      id.address = PostalAddress(l.address());
      break;
    }
    case v1::Record::kContact: {
      const v1::Contact& c = record.contact();
      id.type = v1::ENTITY_TYPE_CONTACT;
      AddUnique(&id.emails, NormalizeEmail(c.email()));
      const std::string region = RegionOf(c.address(), options);
      AddPhone(&id.phones, c.phone(), region, against);
      AddPhone(&id.phones, c.mobile(), region, against);
      PersonIdentity(c.first_name(), c.last_name(), &id);
      id.address = PostalAddress(c.address());
      break;
    }
    case v1::Record::kAccount: {
      const v1::Account& a = record.account();
      id.type = v1::ENTITY_TYPE_ACCOUNT;
      AddPhone(&id.phones, a.phone(), RegionOf(a.billing_address(), options), against);
      id.name = CompanyName(a.name());
      const std::vector<std::string> words = Tokens(id.name);
      if (!words.empty() && words[0].size() >= 3 && words.size() > 1) id.name_block = words[0];
      id.website = WebsiteHost(a.website());
      id.address = PostalAddress(a.billing_address());
      break;
    }
    default: break;
  }
  std::sort(id.emails.begin(), id.emails.end());
  std::sort(id.phones.begin(), id.phones.end());
  return id;
}

namespace {

// What a name match weighs, times the names' similarity (Compare).
constexpr double kPersonNameWeight = 0.7;
constexpr double kCompanyNameWeight = 0.85;

// The keys of `id`; the name and name block on their own only with
// `bare_names`.
std::vector<int64_t> KeysOf(const Identity& id, bool bare_names) {
  std::vector<int64_t> keys;
  auto add = [&keys](std::string_view kind, const std::string& value) {
    if (!value.empty()) keys.push_back(static_cast<int64_t>(Fnv64(kind, value)));
  };
  // Two parts in one key, with a separator (a hash collision only adds a
  // candidate that then scores low).
  auto add_pair = [&add](std::string_view kind, const std::string& a, const std::string& b) {
    if (!a.empty() && !b.empty()) add(kind, a + '\x1f' + b);
  };
  for (const std::string& e : id.emails) add("email", e);
  for (const std::string& p : id.phones) add("phone", p);
  if (bare_names) {
    add("name", id.name);
    add("block", id.name_block);
  }
  // A name is common, a name at one company or one address is not: these
  // find what a name with a company (0.85) or an address (0.85) scores.
  add_pair("name+company", id.name, id.company);
  add_pair("block+company", id.name_block, id.company);
  add_pair("name+address", id.name, id.address);
  add_pair("block+address", id.name_block, id.address);
  add("website", id.website);
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

// Whether a name alone can reach the threshold, for people and companies.
bool BareNames(bool people, const DuplicateOptions& options) {
  return (people ? kPersonNameWeight : kCompanyNameWeight) >= options.threshold;
}

}  // namespace

std::vector<int64_t> LookupKeysOf(const Identity& id, const DuplicateOptions& options) {
  return KeysOf(id, BareNames(IsPersonType(id.type), options));
}

std::vector<int64_t> IndexKeysOf(const Identity& id, const DuplicateOptions& options) {
  return LookupKeysOf(id, options);
}

int64_t IndexKeysVersion(const DuplicateOptions& options) {
  // 1: the check is off. Live writes then keep no keys, so the next start
  // with the check on must find a version other than its own and rebuild.
  if (!options.enabled) return 1;
  // 3: the third set of keys (2 added a name with its company or address),
  // then whether names alone are in, for people and for companies.
  return 30 + (BareNames(true, options) ? 1 : 0) + (BareNames(false, options) ? 2 : 0);
}

Match Compare(const Identity& a, const Identity& b, const DuplicateOptions& options) {
  Match match;
  double unlikely = 1.0;  // the product of (1 - weight)
  auto add = [&](const char* reason, double weight) {
    match.reasons.emplace_back(reason);
    unlikely *= 1.0 - weight;
  };
  const bool people = IsPersonType(a.type) && IsPersonType(b.type);
  const bool companies = a.type == v1::ENTITY_TYPE_ACCOUNT && b.type == v1::ENTITY_TYPE_ACCOUNT;
  if (!people && !companies) return match;
  if (Shares(a.emails, b.emails)) add("email", 0.95);
  if (Shares(a.phones, b.phones)) add("phone", 0.8);
  if (!a.website.empty() && a.website == b.website) add("website", 0.8);
  if (!a.name.empty() && !b.name.empty()) {
    const double similarity = JaroWinkler(a.name, b.name);
    if (similarity >= options.name_similarity)
      add("name", (people ? kPersonNameWeight : kCompanyNameWeight) * similarity);
  }
  if (!a.company.empty() && a.company == b.company) add("company", 0.5);
  if (!a.address.empty() && a.address == b.address) add("address", 0.5);
  match.score = 1.0 - unlikely;
  return match;
}

}  // namespace crmsync::server::identity
