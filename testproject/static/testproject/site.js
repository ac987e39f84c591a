console.log("testproject");
