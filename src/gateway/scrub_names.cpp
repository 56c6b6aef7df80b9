// PERSON and ADDRESS detection. Names: a curated first-name list (data/pii/first_names.txt,
// compiled in through the generated first_names.inc) plus context rules; a bare first name
// with no surname and no context cue is not detected (too many are ordinary words). Addresses:
// patterns for US/UK street lines (number, capitalised street words, suffix, unit, city,
// state, ZIP/postcode), German "<Name>straße 12[, 10115 Berlin]" and French "12 rue de ...".
#include <string>
#include <unordered_set>

#include "gateway/scrub_names.h"

namespace rpu::gateway {
namespace {

#include "gateway/first_names.inc"  // kFirstNamesText: one name per line

const std::unordered_set<std::string_view>& first_names() {
  static const std::unordered_set<std::string_view> names = [] {
    std::unordered_set<std::string_view> out;
    std::string_view rest = kFirstNamesText;
    while (!rest.empty()) {
      const size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      if (!line.empty() && line[0] != '#') out.insert(line);
      rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    }
    return out;
  }();
  return names;
}

// Capitalised words that follow a name cue or a first name without being a name.
const std::unordered_set<std::string_view> kNotNames = {
    "The", "This", "That", "Team", "Support", "Customer", "Customers", "Sir", "Madam", "All", "Everyone", "There",
    "Street", "Avenue", "Road", "Lane", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December", "Inc", "Ltd", "LLC", "Corp", "Company", "Server", "Error", "Thanks", "Regards", "Please", "Hello",
    "Hi", "Dear", "Admin", "User", "Users", "Manager", "Sales", "Billing", "Account", "Order", "Ticket", "Group",
    "Service", "Services", "Office", "Department", "Bank", "University", "Hospital", "Hotel", "Airport", "Station",
    "City", "County", "North", "South", "East", "West", "New", "Park", "Square", "Team's", "Hey", "Folks", "Guys",
    "Again", "Here", "Today", "Tomorrow", "Yesterday", "Both", "Everybody", "Friends", "Colleagues", "Bot",
    "Assistant", "Agent", "Ops", "Engineering", "Dev", "Devs", "Finance", "Legal", "HR", "It", "We", "You", "I",
    "Sorry", "Yes", "No", "Ok", "Okay", "Just", "Also", "And", "But", "Or", "If", "So", "Not", "Happy", "Good",
    "Glad", "Back", "Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Can", "Could", "Would", "Should", "Did", "Does", "Done", "Ready", "Available", "Online", "Offline", "Excited", "Writing", "Following", "Calling"};

bool is_not_name(std::string_view word) { return kNotNames.count(word) > 0; }

// Drops trailing non-name words from [begin, end); false when the first word is not a name.
bool trim_name(std::string_view text, size_t& begin, size_t& end) {
  std::string_view value = text.substr(begin, end - begin);
  std::vector<std::string_view> words;
  for (size_t i = 0; i < value.size();) {
    size_t j = value.find_first_of(" \t\n", i);
    if (j == std::string_view::npos) j = value.size();
    if (j > i) words.push_back(value.substr(i, j - i));
    i = j + 1;
  }
  if (words.empty() || is_not_name(words[0])) return false;
  size_t keep = 1;
  while (keep < words.size() && !is_not_name(words[keep])) ++keep;
  const std::string_view last = words[keep - 1];
  end = begin + static_cast<size_t>(last.data() + last.size() - value.data());
  return true;
}

constexpr std::string_view kName = R"(\p{Lu}(?:\p{Ll}+|'\p{Lu}\p{Ll}+)(?:\p{Lu}\p{Ll}+)?(?:-\p{Lu}\p{Ll}+)?)";

std::string with_names(std::string_view pattern) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern.substr(i, 4) == "NAME") {
      out += kName;
      i += 3;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

}  // namespace

bool is_first_name(std::string_view word) { return first_names().count(word) > 0; }

void add_person_detectors(std::vector<std::unique_ptr<Scrubber::Detector>>& out) {
  // Titles: any capitalised name follows.
  add_detector(out, PiiType::kPerson,
               with_names(R"(\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Herr|Frau|Mme|Mlle)\.?[ \t]+(NAME(?:[ \t]+NAME){0,2}))"), 1,
               trim_name);
  // Strong cues: a capitalised name that is not a common word.
  add_detector(out, PiiType::kPerson,
               with_names(R"((?:\b(?:[Mm]y name is|[Nn]ame(?: is|:)|[Dd]ear|[Rr]egards,?|[Ss]incerely,?|[Ss]igned,?)"
                          R"(|[Aa]uthor:|[Cc]ontact person:|[Ww]arm regards,?|[Bb]est regards,?|[Kk]ind regards,?)\s+))"
                          R"((NAME(?:[ \t]+NAME){0,2}))"),
               1, trim_name);
  // Weak cues ("Hi", "Thanks,", "I'm", "spoke with", ...): the first word must be a known first name.
  add_detector(out, PiiType::kPerson,
               with_names(R"((?:\b(?:[Hh]i|[Hh]ello|[Hh]ey|[Tt]hanks,?|[Cc]heers,?|[Bb]est,?|I am|I'm|[Tt]his is|[Cc]ontact)"
                          R"(|[Cc]c:?|[Ff]rom:|[Tt]o:|[Aa]ssignee:?|[Rr]eporter:?|[Cc]ustomer:?|[Ss]poke (?:to|with)|[Cc]alled|[Aa]sk)\s+))"
                          R"((NAME(?:[ \t]+NAME){0,2}))"),
               1, [](std::string_view t, size_t& b, size_t& e) {
                 const size_t space = t.substr(b, e - b).find_first_of(" \t");
                 return is_first_name(t.substr(b, space == std::string_view::npos ? e - b : space)) && trim_name(t, b, e);
               });
  // A listed first name followed by a capitalised surname (optional middle initial).
  add_detector(out, PiiType::kPerson, with_names(R"(\b(NAME)[ \t]+(?:\p{Lu}\.[ \t]+)?(NAME)\b)"), 0,
               [](std::string_view t, size_t& b, size_t& e) {
                 const size_t space = t.substr(b, e - b).find_first_of(" \t");
                 return is_first_name(t.substr(b, space)) && trim_name(t, b, e) &&
                        t.substr(b, e - b).find_first_of(" \t") != std::string_view::npos;
               });
}

void add_address_detectors(std::vector<std::unique_ptr<Scrubber::Detector>>& out) {
  const auto any = [](std::string_view, size_t&, size_t&) { return true; };
  // US / UK: "1600 Pennsylvania Avenue NW, Washington, DC 20500", "221B Baker Street, London NW1 6XE".
  add_detector(out, PiiType::kAddress,
               R"(\b\d{1,5}[A-Za-z]?[ \t]+(?:(?:\p{Lu}[\p{L}'.\-]*|\d{1,3}(?:st|nd|rd|th))[ \t]+){1,4})"
               R"((?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace)"
               R"(|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Square|Sq|Loop|Crescent|Close|Row|Walk|Plaza|Trail)\b\.?)"
               R"((?:[ \t]+(?:NW|NE|SW|SE|N|S|E|W)\b)?(?![ \t]+\p{Lu}\p{Ll}))"
               R"((?:,?[ \t]+(?:Apt|Apartment|Suite|Ste|Unit|Floor|Fl|#)\.?[ \t]*#?\w+)?)"
               R"((?:,[ \t]*\p{Lu}\p{Ll}+(?:[ \t]\p{Lu}\p{Ll}+){0,2})?(?:,?[ \t]+[A-Z]{2}\b)?(?:[ \t]+\d{5}(?:-\d{4})?)?)"
               R"((?:[ \t]+[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2})?)",
               0, any);
  // German: "Hauptstraße 5", "Am Lindenweg 12a, 10115 Berlin", "Bahnhofstr. 3".
  add_detector(out, PiiType::kAddress,
               R"(\b\p{Lu}\p{Ll}+(?:straße|strasse|str\.|weg|platz|allee|gasse|ring|damm)[ \t]+\d{1,4}[a-z]?\b)"
               R"((?:,[ \t]*\d{5}[ \t]+\p{Lu}\p{Ll}+)?)",
               0, any);
  // French: "12 rue de la Paix, 75002 Paris".
  add_detector(out, PiiType::kAddress,
               R"(\b\d{1,4}(?:[ \t]?(?:bis|ter))?,?[ \t]+(?:[Rr]ue|[Aa]venue|[Bb]oulevard|[Bb]d|[Pp]lace|[Cc]hemin|[Aa]llée|[Qq]uai))"
               R"([ \t]+(?:(?:de|du|des|la|le)[ \t]+|l'|d')*\p{Lu}[\p{L}\-']+(?:[ \t]+\p{Lu}[\p{L}\-']+){0,3})"
               R"((?:,[ \t]*\d{5}[ \t]+\p{Lu}\p{L}+)?)",
               0, any);
}

}  // namespace rpu::gateway
