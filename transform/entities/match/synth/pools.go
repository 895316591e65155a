package synth

// Name and place pools. Frequencies are skewed (see pick) so that common
// names repeat the way they do in real customer data.

var maleFirst = []string{
	"James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas", "Charles",
	"Christopher", "Daniel", "Matthew", "Anthony", "Donald", "Steven", "Paul", "Andrew", "Joshua", "Kenneth",
	"Kevin", "Brian", "George", "Edward", "Ronald", "Timothy", "Jason", "Jeffrey", "Ryan", "Jacob",
	"Gary", "Nicholas", "Eric", "Jonathan", "Stephen", "Larry", "Justin", "Scott", "Brandon", "Benjamin",
	"Samuel", "Gregory", "Frank", "Alexander", "Raymond", "Patrick", "Jack", "Dennis", "Jerry", "Tyler",
	"Aaron", "Jose", "Adam", "Henry", "Nathan", "Douglas", "Zachary", "Peter", "Kyle", "Walter",
	"Ethan", "Jeremy", "Harold", "Keith", "Christian", "Roger", "Noah", "Gerald", "Carl", "Terry",
	"Sean", "Austin", "Arthur", "Lawrence", "Jesse", "Dylan", "Bryan", "Joe", "Jordan", "Billy",
	"Bruce", "Albert", "Willie", "Gabriel", "Logan", "Alan", "Juan", "Wayne", "Roy", "Ralph",
	"Randy", "Eugene", "Vincent", "Russell", "Elijah", "Louis", "Bobby", "Philip", "Johnny", "Liam",
	"Oliver", "Lucas", "Mateo", "Hiroshi", "Rahul", "Wei", "Omar", "Mohammed", "Luca", "Sven",
	"Theodore", "Frederick", "Martin", "Leonard", "Vikram", "Pierre", "Hans", "Diego", "Ivan", "Kwame",
}

var femaleFirst = []string{
	"Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
	"Nancy", "Lisa", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly", "Emily", "Donna", "Michelle",
	"Dorothy", "Carol", "Amanda", "Melissa", "Deborah", "Stephanie", "Rebecca", "Sharon", "Laura", "Cynthia",
	"Kathleen", "Amy", "Shirley", "Angela", "Helen", "Anna", "Brenda", "Pamela", "Nicole", "Emma",
	"Samantha", "Katherine", "Christine", "Debra", "Rachel", "Catherine", "Carolyn", "Janet", "Ruth", "Maria",
	"Heather", "Diane", "Virginia", "Julie", "Joyce", "Victoria", "Olivia", "Kelly", "Christina", "Lauren",
	"Joan", "Evelyn", "Judith", "Megan", "Cheryl", "Andrea", "Hannah", "Martha", "Jacqueline", "Frances",
	"Gloria", "Ann", "Teresa", "Kathryn", "Sara", "Janice", "Jean", "Alice", "Madison", "Doris",
	"Abigail", "Julia", "Judy", "Grace", "Denise", "Amber", "Marilyn", "Beverly", "Danielle", "Theresa",
	"Sophia", "Marie", "Diana", "Brittany", "Natalie", "Isabella", "Charlotte", "Rose", "Alexis", "Kayla",
	"Priya", "Mei", "Fatima", "Yuki", "Ingrid", "Chiara", "Aisha", "Eleanor", "Valerie", "Alexandra",
}

var commonLast = []string{
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
	"Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
	"Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
	"Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
	"Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
	"Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes",
	"Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper",
	"Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson",
	"Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
	"Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
	"O'Brien", "McDonald", "Van der Berg", "Müller", "Schmidt", "Kowalski", "Novak", "Rossi", "Tanaka", "Chen",
	"Wang", "Singh", "Kumar", "Okafor", "Larsen", "Johansson", "Dubois", "Fischer", "Weber", "Nakamura",
}

// syllables build a long tail of rarer surnames ("Dalmoren", "Vesko").
var syllables = []string{
	"al", "ber", "cor", "dal", "ev", "fen", "gar", "hol", "is", "jen", "kel", "lin", "mor", "nor",
	"ost", "pel", "quin", "ros", "sten", "tor", "ul", "ven", "wes", "yar", "zel", "ban", "dre", "fal",
	"gri", "har", "kin", "lew", "mar", "nik", "ode", "pra", "rid", "sal", "tav", "vik", "win", "sko",
}

var lastEndings = []string{"", "son", "er", "man", "ski", "ley", "ford", "ton", "berg", "ez", "ini", "ov", "stad", "well"}

type city struct {
	name, country string
	area          []string // phone area codes (US) or number prefixes (GB)
	zip           string   // ZIP prefix (US, 3 digits) or outward code (GB)
}

var cities = []city{
	{"New York", "US", []string{"212", "646", "718"}, "100"},
	{"Los Angeles", "US", []string{"213", "310", "323"}, "900"},
	{"Chicago", "US", []string{"312", "773"}, "606"},
	{"Houston", "US", []string{"713", "281"}, "770"},
	{"Phoenix", "US", []string{"602", "480"}, "850"},
	{"Philadelphia", "US", []string{"215", "267"}, "191"},
	{"San Antonio", "US", []string{"210"}, "782"},
	{"San Diego", "US", []string{"619", "858"}, "921"},
	{"Dallas", "US", []string{"214", "972"}, "752"},
	{"San Jose", "US", []string{"408"}, "951"},
	{"Austin", "US", []string{"512"}, "787"},
	{"Jacksonville", "US", []string{"904"}, "322"},
	{"Columbus", "US", []string{"614"}, "432"},
	{"Charlotte", "US", []string{"704"}, "282"},
	{"Indianapolis", "US", []string{"317"}, "462"},
	{"San Francisco", "US", []string{"415", "628"}, "941"},
	{"Seattle", "US", []string{"206"}, "981"},
	{"Denver", "US", []string{"303", "720"}, "802"},
	{"Boston", "US", []string{"617", "857"}, "021"},
	{"Nashville", "US", []string{"615"}, "372"},
	{"Portland", "US", []string{"503", "971"}, "972"},
	{"Las Vegas", "US", []string{"702"}, "891"},
	{"Detroit", "US", []string{"313"}, "482"},
	{"Memphis", "US", []string{"901"}, "381"},
	{"Baltimore", "US", []string{"410", "443"}, "212"},
	{"Milwaukee", "US", []string{"414"}, "532"},
	{"Albuquerque", "US", []string{"505"}, "871"},
	{"Tucson", "US", []string{"520"}, "857"},
	{"Atlanta", "US", []string{"404", "678"}, "303"},
	{"Miami", "US", []string{"305", "786"}, "331"},
	{"Minneapolis", "US", []string{"612"}, "554"},
	{"Cleveland", "US", []string{"216"}, "441"},
	{"Pittsburgh", "US", []string{"412"}, "152"},
	{"St. Louis", "US", []string{"314"}, "631"},
	{"Salt Lake City", "US", []string{"801"}, "841"},
	{"Raleigh", "US", []string{"919"}, "276"},
	{"London", "GB", []string{"20 7946", "20 3123"}, "SW1A"},
	{"Manchester", "GB", []string{"161 496"}, "M1"},
	{"Edinburgh", "GB", []string{"131 496"}, "EH1"},
}

var companyWords1 = []string{
	"Acme", "Blue", "Summit", "Northwind", "Pioneer", "Silver", "Evergreen", "Granite", "Harbor", "Apex",
	"Bright", "Cedar", "Delta", "Eagle", "Falcon", "Golden", "Horizon", "Iron", "Juniper", "Keystone",
	"Liberty", "Maple", "Nova", "Oak", "Pacific", "Quantum", "Red", "Sterling", "Titan", "Union",
	"Vertex", "Western", "Zenith", "Atlas", "Beacon", "Crescent", "Dynamic", "Everest", "Frontier", "Global",
}

var companyWords2 = []string{
	"Analytics", "Systems", "Logistics", "Foods", "Health", "Labs", "Software", "Consulting", "Partners", "Energy",
	"Capital", "Media", "Robotics", "Supply", "Designs", "Networks", "Solutions", "Industries", "Studios", "Holdings",
	"Ventures", "Dynamics", "Works", "Group", "Bank", "Insurance", "Motors", "Textiles", "Pharma", "Realty",
}

// suffixVariants are ways sources write one legal form.
var suffixVariants = map[string][]string{
	"Inc.":  {"Inc.", "Inc", "INC", "inc.", "Incorporated", ", Inc.", "INCORPORATED"},
	"LLC":   {"LLC", "L.L.C.", "llc", "Limited Liability Company", ", LLC"},
	"Corp.": {"Corp.", "Corp", "Corporation", "CORP", ", Corp."},
	"Ltd.":  {"Ltd.", "Ltd", "Limited", "LTD"},
	"":      {""},
}

var freeMail = []string{"gmail.com", "gmail.com", "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com", "proton.me"}

var domainTypos = map[string]string{
	"gmail.com": "gmial.com", "yahoo.com": "yaho.com", "hotmail.com": "hotmial.com", "outlook.com": "outlok.com",
	"icloud.com": "iclod.com", "aol.com": "aol.co", "proton.me": "protn.me",
}

var roleLocals = []string{"info", "sales", "office", "contact", "hello", "team"}
