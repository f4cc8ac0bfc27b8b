// Normalised identities for duplicate detection (logic/identity_keys.h):
// what counts as the same e-mail, phone, name, company, website and
// address, and how matches score.
#include "logic/identity_keys.h"

#include <algorithm>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace crmsync::server::identity {
namespace {

TEST(IdentityKeysTest, EmailsFoldCaseAndProviderAliasesOnlyWhereSafe) {
  EXPECT_EQ(NormalizeEmail(" Ana.Lima@Example.COM "), "ana.lima@example.com");
  EXPECT_EQ(NormalizeEmail("a.n.a+news@googlemail.com"), "ana@gmail.com");
  EXPECT_EQ(NormalizeEmail("ana+crm@outlook.com"), "ana@outlook.com");
  // Elsewhere dots and tags may be meaningful: kept.
  EXPECT_EQ(NormalizeEmail("a.na+x@example.com"), "a.na+x@example.com");
  for (const char* bad :
       {"", "ana", "@example.com", "ana@", "ana@localhost", "a b@example.com", "a@b@example.com"}) {
    EXPECT_EQ(NormalizeEmail(bad), "") << bad;
  }
}

TEST(IdentityKeysTest, PhonesBecomeE164InTheirRegion) {
  EXPECT_EQ(NormalizePhone("(415) 555-2671", "US"), "+14155552671");
  EXPECT_EQ(NormalizePhone("+1 415 555 2671", "FR"), "+14155552671");
  EXPECT_EQ(NormalizePhone("01 23 45 67 89", "FR"), "+33123456789");
  EXPECT_EQ(NormalizePhone("01 23 45 67 89", "fr"), "+33123456789");
  EXPECT_EQ(NormalizePhone("+33 1 23 45 67 89", "US"), "+33123456789");
  EXPECT_EQ(NormalizePhone("12", "US"), "");
  EXPECT_EQ(NormalizePhone("call me", "US"), "");
  EXPECT_EQ(NormalizePhone("", "US"), "");
}

TEST(IdentityKeysTest, NamesFoldAccentsCaseAndOrder) {
  EXPECT_EQ(FoldText("  Zoë  O'Brien-Straße "), "zoe o brien strasse");
  EXPECT_EQ(FoldText("Ærøskøbing"), "aeroskobing");
  EXPECT_EQ(FoldText("Иван"), "иван") << "other scripts are kept, lower-cased";
  EXPECT_EQ(PersonName("John", "Smith"), PersonName("SMITH", "john"));
  EXPECT_EQ(PersonName("José María", "García"), "garcia jose maria");
  EXPECT_EQ(CompanyName("ACME, Inc."), "acme");
  EXPECT_EQ(CompanyName("Acme S.A.R.L."), "acme");
  EXPECT_EQ(CompanyName("The Globex Corporation"), "globex");
  EXPECT_EQ(CompanyName("The Company"), "the company") << "nothing but legal words: kept";
  EXPECT_EQ(WebsiteHost("HTTPS://www.Globex.example/about?x=1"), "globex.example");
  EXPECT_EQ(WebsiteHost("globex.example:8080"), "globex.example");
  EXPECT_EQ(WebsiteHost("not a site"), "");
  v1::Address a;
  a.set_street("12 Main Street");
  a.set_postal_code("94 105");
  a.set_country_code("US");
  v1::Address b;
  b.set_street("12 main st.");
  b.set_postal_code("94105");
  b.set_country_code("us");
  EXPECT_EQ(PostalAddress(a), PostalAddress(b));
  EXPECT_EQ(PostalAddress(v1::Address()), "");
}

TEST(IdentityKeysTest, JaroWinklerIsOneForEqualAndHighForSmallTypos) {
  EXPECT_DOUBLE_EQ(JaroWinkler("martha", "martha"), 1.0);
  EXPECT_NEAR(JaroWinkler("martha", "marhta"), 0.961, 0.001);
  EXPECT_NEAR(JaroWinkler("dixon", "dicksonx"), 0.813, 0.001);
  EXPECT_DOUBLE_EQ(JaroWinkler("abc", "xyz"), 0.0);
  EXPECT_DOUBLE_EQ(JaroWinkler("", "abc"), 0.0);
  EXPECT_DOUBLE_EQ(JaroWinkler("jon smith", "john smith"), JaroWinkler("john smith", "jon smith"));
}

v1::Record Lead(const std::string& first, const std::string& last, const std::string& email,
                const std::string& phone, const std::string& company) {
  v1::Record r;
  r.mutable_lead()->set_first_name(first);
  r.mutable_lead()->set_last_name(last);
  r.mutable_lead()->set_email(email);
  r.mutable_lead()->set_phone(phone);
  r.mutable_lead()->set_company(company);
  return r;
}

TEST(IdentityKeysTest, ScoresCombineWhatMatchedAndAreSymmetric) {
  const DuplicateOptions options;
  const Identity ana = IdentityOf(Lead("Ana", "Lima", "ana@lima.example", "", "Acme"), options);
  const Identity same_mail = IdentityOf(Lead("", "", "ANA@lima.example", "", ""), options);
  const Identity same_name = IdentityOf(Lead("Ana", "Lima", "", "", ""), options);
  const Identity name_company = IdentityOf(Lead("Anna", "Lima", "", "", "ACME Inc"), options);
  const Identity stranger = IdentityOf(Lead("Bo", "Berg", "bo@berg.example", "", ""), options);

  Match m = Compare(ana, same_mail, options);
  EXPECT_NEAR(m.score, 0.95, 1e-9);
  EXPECT_THAT(m.reasons, ::testing::ElementsAre("email"));
  EXPECT_LT(Compare(ana, same_name, options).score, options.threshold) << "a name alone";
  m = Compare(ana, name_company, options);
  EXPECT_GE(m.score, options.threshold);
  EXPECT_THAT(m.reasons, ::testing::ElementsAre("name", "company"));
  EXPECT_EQ(Compare(name_company, ana, options).score, m.score);
  EXPECT_EQ(Compare(ana, stranger, options).score, 0.0);
  EXPECT_TRUE(Compare(ana, stranger, options).reasons.empty());

  // A stricter name similarity drops the typo.
  DuplicateOptions strict;
  strict.name_similarity = 0.99;
  EXPECT_THAT(Compare(ana, name_company, strict).reasons, ::testing::ElementsAre("company"));

  // People and companies are never compared with each other.
  v1::Record account;
  account.mutable_account()->set_name("Ana Lima");
  EXPECT_EQ(Compare(ana, IdentityOf(account, options), options).score, 0.0);
}

TEST(IdentityKeysTest, KeysAreStableAndCoverEachIdentityPart) {
  const DuplicateOptions options;
  v1::Record c;
  c.mutable_contact()->set_first_name("Ana");
  c.mutable_contact()->set_last_name("Lima");
  c.mutable_contact()->set_email("ana@lima.example");
  c.mutable_contact()->set_phone("+33 1 23 45 67 89");
  c.mutable_contact()->set_mobile("+33 1 23 45 67 89");
  const Identity id = IdentityOf(c, options);
  EXPECT_THAT(id.phones, ::testing::ElementsAre("+33123456789")) << "one phone, twice";
  EXPECT_EQ(id.name_block, "lima a");
  // e-mail and phone; the name and name block on their own only where a
  // name alone can flag a person (a threshold of 0.7 or less).
  EXPECT_EQ(IndexKeysOf(id, options).size(), 2u);
  DuplicateOptions names = options;
  names.threshold = 0.7;
  EXPECT_EQ(IndexKeysOf(id, names).size(), 4u);
  EXPECT_NE(IndexKeysVersion(names), IndexKeysVersion(options)) << "the index is rebuilt";
  names.threshold = 0.75;
  EXPECT_EQ(IndexKeysVersion(names), IndexKeysVersion(options)) << "the same keys";
  EXPECT_EQ(IndexKeysOf(id, options), IndexKeysOf(IdentityOf(c, options), options));
  EXPECT_TRUE(IndexKeysOf(IdentityOf(v1::Record(), options), options).empty());
  // A lead with the same e-mail shares its key (people of both types meet).
  const Identity lead = IdentityOf(Lead("", "", "ana@lima.example", "", ""), options);
  ASSERT_EQ(IndexKeysOf(lead, options).size(), 1u);
  const auto keys = IndexKeysOf(id, options);
  EXPECT_NE(std::find(keys.begin(), keys.end(), IndexKeysOf(lead, options)[0]), keys.end());
}

// Whether a check of `incoming` looks up a key `stored` is indexed under.
bool Found(const Identity& stored, const Identity& incoming, const DuplicateOptions& options) {
  const std::vector<int64_t> indexed = IndexKeysOf(stored, options);
  for (int64_t k : LookupKeysOf(incoming, options)) {
    if (std::binary_search(indexed.begin(), indexed.end(), k)) return true;
  }
  return false;
}

TEST(IdentityKeysTest, EveryPairThatScoresAtTheThresholdSharesALookedUpKey) {
  // People and companies that share parts in many combinations: a name
  // spelt two ways, a company, an address, an e-mail, a phone.
  std::vector<v1::Record> records;
  for (const char* first : {"Ana", "Anna", "Bruno"}) {
    for (const char* company : {"", "Acme", "ACME Inc.", "Globex"}) {
      for (const char* street : {"", "12 Main Street", "12 main st"}) {
        for (const char* email : {"", "ana@lima.example"}) {
          v1::Record r = Lead(first, "Lima", email, "", company);
          if (*street != 0) {
            r.mutable_lead()->mutable_address()->set_street(street);
            r.mutable_lead()->mutable_address()->set_postal_code("75001");
          }
          records.push_back(r);
          v1::Record c;
          c.mutable_contact()->set_first_name(first);
          c.mutable_contact()->set_last_name("Lima");
          c.mutable_contact()->set_email(email);
          *c.mutable_contact()->mutable_address() = r.lead().address();
          records.push_back(c);
        }
      }
    }
  }
  for (const char* name : {"Acme", "Acme SARL", "Acmee", "Globex"}) {
    for (const char* street : {"", "12 Main Street"}) {
      v1::Record a;
      a.mutable_account()->set_name(name);
      if (*street != 0) {
        a.mutable_account()->mutable_billing_address()->set_street(street);
        a.mutable_account()->mutable_billing_address()->set_postal_code("75001");
      }
      records.push_back(a);
    }
  }
  for (double threshold : {0.5, 0.7, 0.8, 0.85, 0.9}) {
    DuplicateOptions options;
    options.threshold = threshold;
    std::vector<Identity> ids;
    for (const v1::Record& r : records) ids.push_back(IdentityOf(r, options));
    int flagged = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      for (size_t j = 0; j < ids.size(); ++j) {
        if (i == j || Compare(ids[i], ids[j], options).score < threshold) continue;
        // Looking up every stored key finds the pair: so must the check's
        // lookup. Beyond the keys (a company or an address alone at a low
        // threshold, one-word company names spelt two ways) nothing finds
        // it, as docs/stewardship.md says; at the default threshold every
        // pair of people is found.
        DuplicateOptions every_key = options;
        every_key.threshold = 0.0;
        const bool by_any_key = Found(ids[i], ids[j], every_key);
        const bool people_by_default = threshold == DuplicateOptions().threshold &&
                                       IsPersonType(ids[i].type) && IsPersonType(ids[j].type);
        if (!by_any_key && !people_by_default) continue;
        ++flagged;
        EXPECT_TRUE(Found(ids[i], ids[j], options))
            << "threshold " << threshold << ": " << records[j].ShortDebugString()
            << " would not find " << records[i].ShortDebugString();
      }
    }
    EXPECT_GT(flagged, 0) << "threshold " << threshold;
  }
}

TEST(IdentityKeysTest, ANameAloneIsLookedUpOnlyWhenItCanReachTheThreshold) {
  DuplicateOptions options;
  const Identity ana = IdentityOf(Lead("Ana", "Lima", "", "", "Acme"), options);
  const Identity other_ana = IdentityOf(Lead("Ana", "Lima", "", "", "Globex"), options);
  // Same name, other company: 0.7, below 0.8, and not looked up.
  EXPECT_LT(Compare(ana, other_ana, options).score, options.threshold);
  EXPECT_FALSE(Found(ana, other_ana, options));
  DuplicateOptions every_key = options;
  every_key.threshold = 0.0;
  EXPECT_LT(LookupKeysOf(other_ana, options).size(), LookupKeysOf(other_ana, every_key).size());
  EXPECT_EQ(IndexKeysOf(other_ana, options), LookupKeysOf(other_ana, options));
  // Same name at the same company: found through the pair's key.
  EXPECT_TRUE(Found(ana, IdentityOf(Lead("Ana", "Lima", "", "", "ACME Inc"), options), options));
  // Where a name alone may flag, it is looked up.
  options.threshold = 0.6;
  EXPECT_TRUE(Found(ana, other_ana, options));
  EXPECT_EQ(LookupKeysOf(other_ana, options), LookupKeysOf(other_ana, every_key));
  EXPECT_EQ(IndexKeysOf(other_ana, options), LookupKeysOf(other_ana, options));
  // Accounts: a name alone reaches 0.8 (0.85).
  v1::Record acme;
  acme.mutable_account()->set_name("Acme SARL");
  v1::Record acme_inc;
  acme_inc.mutable_account()->set_name("Acme Inc");
  options.threshold = 0.8;
  EXPECT_TRUE(Found(IdentityOf(acme, options), IdentityOf(acme_inc, options), options));
}

TEST(IdentityKeysTest, SameIdentityFieldsIgnoresEverythingElse) {
  v1::Record a = Lead("Ana", "Lima", "ana@lima.example", "+33 1 23 45 67 89", "Acme");
  v1::Record b = a;
  b.mutable_lead()->set_notes("called back");
  b.mutable_lead()->set_rating(4);
  EXPECT_TRUE(SameIdentityFields(a, b));
  b.mutable_lead()->mutable_address()->set_city("Lyon");
  EXPECT_FALSE(SameIdentityFields(a, b));
  for (const char* field : {"email", "phone", "first_name", "last_name", "company"}) {
    v1::Record c = a;
    const auto* f = c.lead().GetDescriptor()->FindFieldByName(field);
    c.mutable_lead()->GetReflection()->SetString(c.mutable_lead(), f, "other");
    EXPECT_FALSE(SameIdentityFields(a, c)) << field;
  }
  v1::Record contact;
  contact.mutable_contact()->set_mobile("+33 6");
  v1::Record other = contact;
  other.mutable_contact()->set_mobile("+33 7");
  EXPECT_FALSE(SameIdentityFields(contact, other));
  EXPECT_FALSE(SameIdentityFields(a, contact)) << "different types";
}

TEST(IdentityKeysTest, ComparingAgainstAnIdentityParsesOnlyPhonesThatMayMatch) {
  const DuplicateOptions options;
  const Identity me = IdentityOf(Lead("", "", "", "(415) 555-2671", ""), options);
  ASSERT_THAT(me.phones, ::testing::ElementsAre("+14155552671"));
  // Written another way, with an extension: still the same number.
  for (const char* same : {"+1 415 555 2671", "415.555.2671 ext 12", "1-415-555-2671 x3"}) {
    EXPECT_THAT(IdentityOf(Lead("", "", "", same, ""), options, &me).phones,
                ::testing::ElementsAre("+14155552671"))
        << same;
  }
  EXPECT_TRUE(IdentityOf(Lead("", "", "", "+1 415 555 2672", ""), options, &me).phones.empty());
  EXPECT_THAT(IdentityOf(Lead("", "", "", "+1 415 555 2672", ""), options).phones,
              ::testing::ElementsAre("+14155552672"))
      << "without `against`, every number";
}

}  // namespace
}  // namespace crmsync::server::identity
