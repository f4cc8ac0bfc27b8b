// Who a lead, contact or account is, in normalised form, for duplicate
// detection (docs/stewardship.md, "Duplicates"): e-mail addresses, phone
// numbers in E.164 (libphonenumber), names folded to lower-case ASCII
// (ICU's Latin-ASCII transliteration) with company legal forms dropped,
// website hosts and postal addresses. Pure functions, no store: the push
// path (duplicates.h) indexes IndexKeysOf and scores candidates with
// Compare. Thread-safe.
#ifndef CRMSYNC_SERVER_LOGIC_IDENTITY_KEYS_H_
#define CRMSYNC_SERVER_LOGIC_IDENTITY_KEYS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crmsync/v1/entities.pb.h"

namespace crmsync::server {

// Settings of duplicate detection (crm-syncd --duplicate-*).
struct DuplicateOptions {
  bool enabled = true;
  // A candidate is flagged at or above this score (0..1).
  double threshold = 0.8;
  // Names count as a match at or above this Jaro-Winkler similarity of
  // their folded forms (0..1).
  double name_similarity = 0.9;
  // ISO 3166-1 region for phone numbers written without a country code
  // when the record's address names no country.
  std::string default_region = "US";
  // Most candidates read per index lookup and kept per flag.
  int max_candidates = 20;
};

namespace identity {

// Lower-case address with the provider's aliases removed where that is
// safe (Gmail: dots and "+tag" in the local part; Outlook, iCloud,
// Fastmail, Proton: "+tag"); "" when `email` is not an address.
std::string NormalizeEmail(std::string_view email);

// E.164 ("+14155552671") of a possible number, read in `region` unless it
// has a country code; "" otherwise.
std::string NormalizePhone(std::string_view phone, std::string_view region);

// Lower case, Latin letters without accents (ß -> ss), punctuation as
// single spaces, trimmed. Letters of other scripts are kept, lower-cased.
std::string FoldText(std::string_view text);

// A person's name: the folded tokens of both parts, sorted (so "Smith
// John" and "John Smith" agree).
std::string PersonName(std::string_view first, std::string_view last);

// A company's name: folded, legal forms ("Inc", "GmbH", "S.A.R.L."...) and
// "the" dropped.
std::string CompanyName(std::string_view name);

// A website's host without "www."; "" when it has none.
std::string WebsiteHost(std::string_view url);

// Street (common abbreviations), postal code or city, and country; "" when
// the street or both of the others are missing.
std::string PostalAddress(const v1::Address& address);

// Jaro-Winkler similarity (0..1) of two strings, byte by byte.
double JaroWinkler(std::string_view a, std::string_view b);

// The normalised identity of one record.
struct Identity {
  v1::EntityType type = v1::ENTITY_TYPE_UNSPECIFIED;
  std::vector<std::string> emails;
  std::vector<std::string> phones;
  // Person: PersonName; account: CompanyName.
  std::string name;
  // A coarser key that finds names spelt a little differently: person:
  // folded last name and first initial; account: the first word.
  std::string name_block;
  // A lead's company (CompanyName).
  std::string company;
  std::string website;
  std::string address;

  bool operator==(const Identity& other) const;
  bool empty() const;
};

// Whether `a` and `b` (of one type) have the same values in every field
// their identity is made of: then their identities are equal, and nothing
// needs normalising.
bool SameIdentityFields(const v1::Record& a, const v1::Record& b);

// Leads and contacts are people (compared with each other); accounts are
// companies. Others have no identity.
bool IsPersonType(v1::EntityType type);
bool HasIdentity(v1::EntityType type);

// The identity of `record` (of a type with one; empty otherwise). With
// `against`, only as far as comparing with it needs: phone numbers whose
// last digits match none of `against`'s are left out (not parsed).
Identity IdentityOf(const v1::Record& record, const DuplicateOptions& options,
                    const Identity* against = nullptr);

// The keys a check looks up: one per e-mail, phone, name, name block and
// website, and one per name or name block with the company and with the
// address, each a 64-bit hash of its kind and value; sorted, unique. The
// name and name block on their own only when a name alone can reach
// `options.threshold` (people: 0.7 < 0.8 by default): a common name's
// block holds many records that could only be flagged with a shared
// company or address, and those have keys of their own.
std::vector<int64_t> LookupKeysOf(const Identity& identity, const DuplicateOptions& options);

// Keys of the record index (IndexKind::kDuplicateKey): the keys a check of
// a record of the same kind (people, companies) looks up under `options`,
// LookupKeysOf. A key no check reads would only cost writes.
std::vector<int64_t> IndexKeysOf(const Identity& identity, const DuplicateOptions& options);

// Which keys IndexKeysOf gives under `options`, as a number (> 0) that
// changes when they do: the index is rebuilt when it changes. With the
// check off it is 1, a version no key set has: writes then keep no keys.
int64_t IndexKeysVersion(const DuplicateOptions& options);

struct Match {
  // 0..1: 1 - the product of (1 - weight) over what matched.
  double score = 0;
  std::vector<std::string> reasons;
};

// How likely `a` and `b` are one customer (symmetric).
Match Compare(const Identity& a, const Identity& b, const DuplicateOptions& options);

}  // namespace identity
}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_LOGIC_IDENTITY_KEYS_H_
